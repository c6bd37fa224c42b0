"""Bench: n random points in the tile (10,000 in the bench) as a GeoDataFrame (same logic as bench_gdf.ts)."""
import geopandas as gpd
import numpy as np
from tilesmith import Bounds, udf


@udf(kind="vector")
def udf(bounds: Bounds = None, n: int = 1000):
    w, s, e, north = bounds
    rng = np.random.default_rng(n)
    lon = w + rng.random(n) * (e - w)
    lat = s + rng.random(n) * (north - s)
    value = np.round(rng.random(n) * 1000) / 10
    return gpd.GeoDataFrame(
        {"id": np.arange(n), "name": [f"f-{i}" for i in range(n)], "value": value},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
