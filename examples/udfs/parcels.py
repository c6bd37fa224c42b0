"""A vector tile UDF in Python: deterministic land parcels on a grid that follows the tile.

Every tile is cut into 8 x 8 cells; each cell holds one parcel whose size and kind come from
a hash of the cell's position, so neighbouring tiles agree and every run returns the same data.
Try: /tiles/parcels/{z}/{x}/{y}.mvt?min_area=5000&kinds=park,residential
"""
import math

from tilesmith import Bounds, udf

KINDS = ["residential", "commercial", "industrial", "park"]


def _cell_hash(ix, iy, z):
    h = (ix * 73856093) ^ (iy * 19349663) ^ (z * 83492791)
    return (h & 0x7FFFFFFF) / 0x7FFFFFFF


@udf(cache_max_age="1h", kind="vector", description="Deterministic parcels with area and kind")
def udf(bounds: Bounds = None, min_area: float = 0.0, kinds: list = None, cells: int = 8):
    import geopandas as gpd
    from shapely.geometry import box

    west, south, east, north = bounds or [-180, -85.05, 180, 85.05]
    cells = max(1, min(int(cells), 64))
    dx = (east - west) / cells
    dy = (north - south) / cells
    # A zoom-like level so the hash is stable for the same grid cell across requests.
    z = max(0, round(math.log2(360 / max(east - west, 1e-9))))
    rows = []
    for j in range(cells):
        for i in range(cells):
            x0, y0 = west + i * dx, south + j * dy
            ix, iy = round((x0 + 180) / dx), round((y0 + 90) / dy)
            r = _cell_hash(ix, iy, z)
            kind = KINDS[int(r * 1000) % len(KINDS)]
            fill = 0.45 + 0.45 * r  # share of the cell the parcel covers
            pad_x, pad_y = dx * (1 - fill) / 2, dy * (1 - fill) / 2
            geom = box(x0 + pad_x, y0 + pad_y, x0 + dx - pad_x, y0 + dy - pad_y)
            lat = math.radians(y0 + dy / 2)
            area = (dx * fill * 111_320 * math.cos(lat)) * (dy * fill * 110_540)
            rows.append({"parcel_id": iy * 100_000 + ix, "kind": kind, "area_m2": round(area, 1),
                         "value": round(r * 1_000_000), "geometry": geom})
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    gdf = gdf[gdf["area_m2"] >= float(min_area)]
    if kinds:
        gdf = gdf[gdf["kind"].isin(kinds)]
    return gdf.reset_index(drop=True)
