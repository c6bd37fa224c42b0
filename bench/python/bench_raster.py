"""Bench: a 256x256 float32 raster computed per pixel over the tile (same logic as bench_raster.ts)."""
import numpy as np
from tilesmith import Bounds, udf


@udf(kind="raster")
def udf(bounds: Bounds = None):
    w, s, e, n = bounds
    x = np.linspace(w, e, 256, dtype=np.float32)
    y = np.linspace(n, s, 256, dtype=np.float32)
    xx, yy = np.meshgrid(x, y)
    return np.sin(xx * 50 + yy * 30).astype(np.float32)
