"""A raster UDF in Python: interfering sine waves as a float32 array in [-1, 1].

Values are rescaled to 0-255 with `rescale` and coloured with `colormap` by the server;
`?rescale=-0.5,0.5&colormap=magma` overrides both per request.
"""
import numpy as np

from tilesmith import Bounds, udf


@udf(kind="raster", rescale=(-1, 1), colormap="viridis", description="Sine wave interference (float raster)")
def udf(bounds: Bounds = None, wavelength: float = 20.0, tile_size: int = 256):
    # tile_size is filled in by the server (256 or 512), like bounds: not a query parameter.
    west, south, east, north = bounds or [-180, -85.05, 180, 85.05]
    size = tile_size
    # Pixel centres, north-west corner first (row 0 is the northern edge).
    lon = west + (np.arange(size) + 0.5) * (east - west) / size
    lat = north - (np.arange(size) + 0.5) * (north - south) / size
    k = 2 * np.pi / float(wavelength)
    x, y = np.meshgrid(lon, lat)
    a = np.sin(k * x) * np.cos(k * y)
    b = np.sin(k * 0.7 * (x + y))
    return ((a + b) / 2).astype(np.float32)
