"""Parameter types that mark a UDF's bounds parameter (the worker reads `__tilesmith_type__`)."""


class Bounds(list):
    """`[west, south, east, north]` in EPSG:4326 degrees; a plain list at run time."""

    __tilesmith_type__ = "bounds"


class Tile:
    """Annotation only: the parameter receives a one-row GeoDataFrame with columns
    x, y, z (the tile, or None on a non-tile call) and geometry (the bounds polygon)."""

    __tilesmith_type__ = "tile"


# Fused's legacy names for the same thing.
TileGDF = Tile


class ViewportGDF:
    """Annotation only: a one-row GeoDataFrame of the requested bounds."""

    __tilesmith_type__ = "viewport"
