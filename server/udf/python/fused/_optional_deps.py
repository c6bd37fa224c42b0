"""Which optional packages are importable, with the classes Fused's helpers test against
(`fused._optional_deps.HAS_GEOPANDAS`, `GPD_GEODATAFRAME`, …), as Fused's own module defines them."""
try:
    import numpy as np

    HAS_NUMPY = True
    NUMPY_NDARRAY = np.ndarray
except ImportError:  # pragma: no cover - numpy is required by the worker
    HAS_NUMPY = False
    NUMPY_NDARRAY = None

try:
    import pandas as pd

    HAS_PANDAS = True
    PD_DATAFRAME = pd.DataFrame
    PD_SERIES = pd.Series
    PD_INDEX = pd.Index
    PD_HASH_OBJECT_FN = pd.util.hash_pandas_object
    PD_TIMESTAMP = pd.Timestamp
    PD_TIMEDELTA = pd.Timedelta
except ImportError:  # pragma: no cover
    HAS_PANDAS = False
    PD_DATAFRAME = PD_SERIES = PD_INDEX = PD_HASH_OBJECT_FN = PD_TIMESTAMP = PD_TIMEDELTA = None

try:
    import geopandas as gpd

    HAS_GEOPANDAS = True
    GPD_GEODATAFRAME = gpd.GeoDataFrame
    GPD_GEOSERIES = gpd.GeoSeries
except ImportError:
    HAS_GEOPANDAS = False
    GPD_GEODATAFRAME = GPD_GEOSERIES = None

try:
    import mercantile  # the real package, or tilesmith's fallback (server/udf/python/fallback)

    HAS_MERCANTILE = True
    MERCANTILE_TILE = mercantile.Tile
except ImportError:
    HAS_MERCANTILE = False
    MERCANTILE_TILE = None

try:
    import shapely
    from shapely.geometry import Polygon as _Polygon
    from shapely.geometry.base import BaseGeometry as _BaseGeometry

    HAS_SHAPELY = True
    SHAPELY_GEOMETRY = getattr(shapely, "Geometry", _BaseGeometry)  # shapely 2 / 1.8
    SHAPELY_POLYGON = _Polygon
except ImportError:
    HAS_SHAPELY = False
    SHAPELY_GEOMETRY = SHAPELY_POLYGON = None


def _has(name):
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


HAS_H3 = _has("h3")
HAS_RASTERIO = _has("rasterio")
HAS_XARRAY = _has("xarray")
HAS_PYARROW = _has("pyarrow")
HAS_DUCKDB = _has("duckdb")
HAS_AIOFILES = _has("aiofiles")
