"""Helpers of the Fused_Buildings UDF, imported as `utils` (Fused's convention)."""
import fused


@fused.cache
def footprints(bounds, x, y, z, n):
    """Deterministic building footprints for one tile (seeded by the tile address)."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import box

    seed = 0 if x is None or x != x else int(x) * 1_000_003 + int(y) * 1_009 + int(z)
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    w, h = east - west, north - south
    cx = west + rng.uniform(0.05, 0.95, n) * w
    cy = south + rng.uniform(0.05, 0.95, n) * h
    half = rng.uniform(0.005, 0.02, n)
    heights = np.round(rng.gamma(2.0, 8.0, n), 1)
    geoms = [box(a - s * w, b - s * h, a + s * w, b + s * h) for a, b, s in zip(cx, cy, half)]
    return gpd.GeoDataFrame({"height": heights, "floors": (heights // 3).astype(int)}, geometry=geoms, crs="EPSG:4326")


def height_class(height):
    return "tower" if height >= 30 else "mid-rise" if height >= 12 else "low-rise"
