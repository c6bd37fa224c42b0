"""tilesmith's Python side: decorators and types for UDFs served by a tilesmith server.

    from tilesmith import udf, Bounds, cache

    @udf(cache_max_age="1h")
    def udf(bounds: Bounds = None, min_area: float = 0.0):
        ...

Shipped inside the tilesmith repository and put on the workers' sys.path: no pip install.
"""
from ._cache import cache
from ._context import context, progress, status
from ._errors import BadRequest, HttpError
from ._types import Bounds, Tile, TileGDF, ViewportGDF
from ._udf import udf

__all__ = ["udf", "cache", "context", "status", "progress", "Bounds", "Tile", "TileGDF", "ViewportGDF", "BadRequest", "HttpError"]
