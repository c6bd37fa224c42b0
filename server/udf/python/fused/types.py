"""Fused's parameter types, mapped onto tilesmith's (see tilesmith/_types.py)."""
from tilesmith._types import Bounds, Tile, TileGDF, ViewportGDF

# Older Fused releases called the tile GeoDataFrame `Bbox`.
Bbox = TileGDF

__all__ = ["Bounds", "Tile", "TileGDF", "ViewportGDF", "Bbox"]
