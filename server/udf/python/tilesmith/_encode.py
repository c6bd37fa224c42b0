"""Encoding a UDF's return value for the result frame (see protocol.ts): GeoDataFrames,
DataFrames and Series as typed columns (geometry as point coordinates or WKB), numpy arrays and
images as rasters, everything else as JSON. Pure functions of the value: the worker (worker.py)
frames and sends what they return. Bulk data goes into buffers, never into the JSON header.
"""
import itertools
import json
import math
import sys

import numpy as np
import pandas as pd

from ._results import Html as _Html, UnsupportedResult as _UnsupportedResult, adapt as _adapt_result
from . import _accel  # compiled fast paths of the encoder (optional)


class Unsupported(Exception):
    """The value cannot be served: its message says what was returned and what is accepted."""


def _type_name(o):
    t = type(o)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray) and o.size <= 100_000:
        return o.tolist()
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"values of type {_type_name(o)} cannot be returned as JSON")


def _clean_floats(v):
    """NaN / inf are not JSON: they become null (pandas' missing value)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean_floats(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_floats(x) for x in v]
    return v


_SUPPORTED = ("GeoDataFrame, GeoSeries, shapely geometry, DataFrame, Series, numpy array (2-D, or 3-D bands-first "
              "or bands-last), (array, bounds) tuple, PNG/JPEG bytes or BytesIO, PIL image, xarray DataArray, "
              "HTML str or fastapi HTMLResponse, str, int, float, bool, dict, list or None")


def encode_result(value):
    """Returns (descriptor, buffers) for a UDF's return value; bulk data goes into buffers."""
    bufs = []
    try:
        value = _adapt_result(value)  # Fused's other return types: HTML, images, DataArrays, empty frames
    except _UnsupportedResult as e:
        raise Unsupported(str(e))
    if value is None:
        return {"t": "json", "value": None}, bufs
    if isinstance(value, _Html):
        return {"t": "html", "value": str(value)}, bufs
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], np.ndarray):
        if value[0].size == 0:
            return {"t": "json", "value": None}, bufs  # nothing in this area
        return _encode_raster(value[0], bufs, _bounds_of(value[1])), bufs
    if isinstance(value, np.ndarray):
        return _encode_array(value, bufs), bufs
    gpd = sys.modules.get("geopandas")
    if gpd is not None:
        if isinstance(value, gpd.GeoDataFrame):
            return _encode_gdf(value, bufs), bufs
        if isinstance(value, gpd.GeoSeries):
            return _encode_gdf(gpd.GeoDataFrame(geometry=value), bufs), bufs
    if "shapely" in sys.modules:
        from shapely.geometry.base import BaseGeometry

        if isinstance(value, BaseGeometry):
            import geopandas as gpd2

            return _encode_gdf(gpd2.GeoDataFrame(geometry=[value], crs="EPSG:4326"), bufs), bufs
    if isinstance(value, pd.DataFrame):
        return _encode_table(value, bufs), bufs
    if isinstance(value, pd.Series):
        return _encode_table(value.to_frame(name=value.name if value.name is not None else "value"), bufs), bufs
    if isinstance(value, np.generic):
        return {"t": "json", "value": value.item()}, bufs
    if isinstance(value, (str, int, float, bool, dict, list, tuple)):
        try:
            json.dumps(value, default=_json_default)
        except TypeError as e:
            raise Unsupported(f"the UDF returned a {_type_name(value)} holding {e}; supported return types: {_SUPPORTED}")
        except ValueError:
            pass  # NaN: cleaned when sent
        return {"t": "json", "value": value}, bufs
    raise Unsupported(f"the UDF returned a value of type {_type_name(value)}, which tilesmith cannot serve; "
                      f"supported return types: {_SUPPORTED}")


_ARRAYS = ("numpy arrays are served as rasters when 2-D (height, width) or 3-D with 1 to 4 bands (bands-first or "
           "bands-last) of bool, int8/16/32/64, uint8/16/32/64 or float16/32/64 values; 1-D arrays of numbers, strings, "
           "booleans or dates become a JSON list; an array with no elements is an empty result")


def _encode_array(arr, bufs):
    """A bare numpy array: empty result, JSON list (1-D) or raster (2-D / 3-D); anything else is a
    clear Unsupported error instead of a worker that dies while sending it."""
    shape = tuple(arr.shape)
    if arr.size == 0:
        return {"t": "json", "value": None}  # e.g. np.array([]): nothing in this area (204 on tiles)
    if arr.ndim == 0:
        raise Unsupported(f"the UDF returned a 0-dimensional numpy array ({arr.dtype}); return a Python number "
                          f"(array.item()) or an array with dimensions. {_ARRAYS}")
    if arr.ndim == 1:
        k = arr.dtype.kind
        if k in "biufUSmM":
            if k in "mM":
                return {"t": "json", "value": [None if np.isnat(x) else str(x) for x in arr]}
            if k == "S":
                arr = arr.astype(str)
            return {"t": "json", "value": arr.tolist()}
        if k == "O":
            values = arr.tolist()
            try:
                json.dumps(values, default=_json_default)
            except TypeError as e:
                raise Unsupported(f"the UDF returned a 1-D numpy array of objects that are not JSON values ({e}). {_ARRAYS}") from None
            except ValueError:
                pass  # NaN: cleaned when sent
            return {"t": "json", "value": values}
        raise Unsupported(f"the UDF returned a 1-D numpy array of dtype {arr.dtype}, which tilesmith cannot serve. {_ARRAYS}")
    if arr.ndim > 3:
        raise Unsupported(f"the UDF returned a {arr.ndim}-D numpy array of shape {shape}, which tilesmith cannot serve. {_ARRAYS}")
    return _encode_raster(arr, bufs, None)


def _bounds_of(b):
    if hasattr(b, "total_bounds"):
        b = b.total_bounds
    try:
        out = [float(x) for x in b]
    except TypeError:
        raise Unsupported(f"the second item of an (array, bounds) tuple must be [west, south, east, north], got {_type_name(b)}")
    if len(out) != 4:
        raise Unsupported(f"the bounds of an (array, bounds) tuple need 4 numbers [west, south, east, north], got {len(out)}")
    return out


_RASTER_DTYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}


def _encode_raster(arr, bufs, bounds):
    if isinstance(arr, np.ma.MaskedArray):
        arr = arr.filled(np.nan if arr.dtype.kind == "f" else 0)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3:
        # rasterio / Fused order is bands-first; images (PIL, matplotlib) are bands-last.
        if arr.shape[0] <= 4 and (arr.shape[2] > 4 or arr.shape[0] <= arr.shape[2]):
            arr = arr.transpose(1, 2, 0)
        elif arr.shape[2] > 4:
            raise Unsupported(f"a raster needs 1 to 4 bands, got an array of shape {tuple(arr.shape)}. {_ARRAYS}")
    else:
        raise Unsupported(f"a raster must be a 2-D or 3-D array, got shape {tuple(arr.shape)}. {_ARRAYS}")
    if arr.size == 0:
        raise Unsupported(f"a raster needs at least one pixel, got an array of shape {tuple(arr.shape)}")
    dt = arr.dtype
    if dt == np.bool_:
        arr = arr.astype(np.uint8)
    elif dt.kind == "f" and dt.itemsize < 4:
        arr = arr.astype(np.float32)
    elif dt.kind == "f" and dt.itemsize > 8:  # long double
        arr = arr.astype(np.float64)
    elif dt.kind in "iu" and dt.itemsize == 8:
        arr = arr.astype(np.float64)
    elif dt.name not in _RASTER_DTYPES:
        raise Unsupported(f"a raster of dtype {dt} cannot be served ({'complex numbers have no pixel value' if dt.kind == 'c' else 'not numbers'}); "
                          f"use bool, int8/16/32/64, uint8/16/32/64 or float16/32/64. {_ARRAYS}")
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    h, w, b = arr.shape
    bufs.append(arr)
    d = {"t": "raster", "dtype": arr.dtype.name, "width": w, "height": h, "bands": b, "data": len(bufs) - 1}
    if bounds is not None:
        d["bounds"] = bounds
    return d


def _encode_column(name, s, bufs):
    """One column as raw little-endian buffers; see protocol.ts for the layout."""
    col = {"name": str(name)}
    dt = s.dtype
    kind = getattr(dt, "kind", "O")
    if kind == "O":  # str columns (the common case) in one C pass when the accelerator is built
        values = s.to_list()
        fast = _accel.utf8_column(values)
        if fast is not None:
            offsets, data, nulls = fast
            col["type"] = "str"
            bufs.append(offsets)
            col["offsets"] = len(bufs) - 1
            bufs.append(data)
            col["data"] = len(bufs) - 1
            if nulls:
                bufs.append(np.fromiter((v is not None for v in values), dtype=np.uint8, count=len(values)))
                col["valid"] = len(bufs) - 1
            return col
    if isinstance(dt, np.dtype) and kind in "iuf":  # plain numpy numbers: no mask to compute
        if kind == "f":  # NaN is null (Node decodes NaN floats as null)
            col["type"] = "float"
            bufs.append(s.to_numpy(dtype="<f8"))
        else:
            _int_column(col, s.to_numpy(dtype="<i8"), bufs)
        col["data"] = len(bufs) - 1
        return col
    isna = s.isna().to_numpy()
    has_null = bool(isna.any())
    if kind == "b" or str(dt) == "boolean":
        col["type"] = "bool"
        bufs.append(s.to_numpy(dtype=np.uint8, na_value=0) if has_null else s.to_numpy(dtype=np.uint8))
    elif kind in "iu":
        _int_column(col, s.to_numpy(dtype="<i8", na_value=0) if has_null else s.to_numpy(dtype="<i8"), bufs)
    elif kind == "f":
        col["type"] = "float"
        bufs.append(s.to_numpy(dtype="<f8", na_value=np.nan))
    else:
        if kind == "M":
            values = [None if n else v.isoformat() for v, n in zip(s, isna)]
        elif kind != "O":
            values = s.to_list()
        if kind == "M" or (not has_null and _infer_dtype(values, skipna=False) == "string") \
                or all(v is None or isinstance(v, str) for v in values):
            col["type"] = "str"
        else:
            col["type"] = "json"
            values = [None if n else json.dumps(_clean_floats(v), default=_json_default) for v, n in zip(values, isna)]
        _append_strings(values, isna if has_null else None, bufs)
        col["offsets"] = len(bufs) - 2
    col["data"] = len(bufs) - 1
    if has_null:
        bufs.append((~isna).astype(np.uint8))
        col["valid"] = len(bufs) - 1
    return col


_INT32 = np.iinfo(np.int32)


def _int_column(col, values, bufs):
    """An int64 column as int32 when every value fits (ids, counts, years: half the bytes to
    move, and Node reads them without combining two halves), else as int64."""
    if len(values) and _INT32.min <= values.min() and values.max() <= _INT32.max:
        col["type"] = "int32"
        bufs.append(values.astype("<i4"))
    else:
        col["type"] = "int"
        bufs.append(values)


def _infer_dtype(values, skipna):
    from pandas.api.types import infer_dtype

    return infer_dtype(values, skipna=skipna)


def _append_strings(values, isna, bufs):
    """Offsets and UTF-8 bytes of a column of str (or bytes, WKB); `isna` (or None: no nulls)
    marks the rows sent as empty slices."""
    if isna is None and type(values) is list and _infer_dtype(values, skipna=False) == "string":
        # All str, no nulls: one C-level join and encode; per-row work only for non-ASCII text.
        joined = "".join(values)
        data = joined.encode("utf-8", "surrogatepass")
        if len(data) == len(joined):  # ASCII: byte lengths are character lengths
            offsets = np.zeros(len(values) + 1, dtype="<u4")
            np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
            bufs.append(offsets)
            bufs.append(data)
            return
    if isna is None:
        isna = itertools.repeat(False)
    enc = [b"" if n or v is None else v if isinstance(v, bytes) else str(v).encode("utf-8") for v, n in zip(values, isna)]
    offsets = np.zeros(len(enc) + 1, dtype="<u4")
    if enc:
        np.cumsum([len(e) for e in enc], out=offsets[1:])
    bufs.append(offsets)
    bufs.append(b"".join(enc))


def _encode_table(df, bufs):
    if df.index.name is not None or (df.index.names and any(n is not None for n in df.index.names)):
        df = df.reset_index()
    cols = [_encode_column(c, df[c], bufs) for c in _unique_columns(df)]
    return {"t": "table", "rows": int(len(df)), "columns": cols}


def _unique_columns(df):
    seen = set()
    out = []
    for c in df.columns:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


_wkb_write = None


def _to_wkb(geoms):
    """WKB per geometry (None for missing ones). shapely 2 and pygeos are vectorised; shapely
    1.8 needs one GEOS call per geometry, made through a single reused writer."""
    import shapely

    if hasattr(shapely, "to_wkb"):
        return list(shapely.to_wkb(geoms))
    if type(geoms[0]).__module__.startswith("pygeos") if len(geoms) else False:
        import pygeos

        return list(pygeos.to_wkb(geoms))
    global _wkb_write
    if _wkb_write is None:
        from shapely.geos import WKBWriter, lgeos

        _wkb_write = WKBWriter(lgeos).write
    w = _wkb_write
    try:
        return [None if g is None else w(g) for g in geoms]
    except Exception:  # e.g. an empty point has no WKB in older GEOS: null that row only
        out = []
        for g in geoms:
            try:
                out.append(None if g is None or g.is_empty else w(g))
            except Exception:
                out.append(None)
        return out


_xyz_reader = None


def _point_coords(geoms):
    """Coordinates of an all-Point geometry column as an (n, 2) or (n, 3) float64 array plus a
    validity mask (False for None / empty points), or None when the column holds anything else
    or this shapely has no fast path. shapely 1.8 has no vectorised accessor (``g.x`` costs
    ~10 µs, the WKB writer ~2.5 µs a point), so GEOS is called directly: two C calls a point,
    through function objects of our own (shapely's ctypes prototypes are left untouched).
    shapely 2 / pygeos keep the WKB path, which is vectorised there."""
    global _xyz_reader
    import shapely

    if hasattr(shapely, "to_wkb") or len(geoms) == 0:
        return None
    fast = _accel.point_coords(geoms)  # the same GEOS calls in one C loop, when built
    if fast is not None:
        return fast
    from shapely.geometry import Point

    kinds = set(map(type, geoms))
    kinds.discard(type(None))
    if kinds != {Point}:
        return None
    if _xyz_reader is None:
        import ctypes

        from shapely.geos import lgeos

        lib = lgeos._lgeos
        if not hasattr(lib, "GEOSCoordSeq_getXYZ_r"):  # GEOS < 3.8
            _xyz_reader = False
            return None
        vp, dp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)
        get_seq = ctypes.CFUNCTYPE(vp, vp, vp)(("GEOSGeom_getCoordSeq_r", lib))
        get_xyz = ctypes.CFUNCTYPE(ctypes.c_int, vp, vp, ctypes.c_uint, dp, dp, dp)(("GEOSCoordSeq_getXYZ_r", lib))
        get_size = ctypes.CFUNCTYPE(ctypes.c_int, vp, vp, ctypes.POINTER(ctypes.c_uint))(("GEOSCoordSeq_getSize_r", lib))
        _xyz_reader = (get_seq, get_xyz, get_size, ctypes, lgeos)
    if _xyz_reader is False:
        return None
    get_seq, get_xyz, get_size, ctypes, lgeos = _xyz_reader
    handle = lgeos.geos_handle
    n = len(geoms)
    out = np.full((n, 3), np.nan)
    valid = np.zeros(n, dtype=bool)
    x, y, z = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    bx, by, bz = ctypes.byref(x), ctypes.byref(y), ctypes.byref(z)
    size = ctypes.c_uint()
    bsize = ctypes.byref(size)
    for i, g in enumerate(geoms):
        if g is None:
            continue
        seq = get_seq(handle, g._geom)
        # POINT EMPTY has a sequence of size 0: GEOS does not bounds-check getXYZ (a crash)
        if seq and get_size(handle, seq, bsize) and size.value and get_xyz(handle, seq, 0, bx, by, bz):
            out[i, 0] = x.value
            out[i, 1] = y.value
            out[i, 2] = z.value
            valid[i] = True
    return _drop_nan_z(out, valid)


def _drop_nan_z(out, valid):
    """2-D coordinates when no valid point has a z."""
    if np.isnan(out[valid, 2]).all():
        out = out[:, :2]
    return np.ascontiguousarray(out, dtype="<f8"), valid


_epsg_of = {}  # CRS user input (e.g. "EPSG:4326") -> its EPSG code: pyproj's lookup costs ~0.1 ms


def _epsg(crs):
    key = getattr(crs, "srs", None)
    if not isinstance(key, str) or not key:
        return crs.to_epsg()
    if key not in _epsg_of:
        if len(_epsg_of) > 256:
            _epsg_of.clear()
        _epsg_of[key] = crs.to_epsg()
    return _epsg_of[key]


def _column_arrays(df):
    """Each column's array, straight from pandas' block manager, or None when this pandas has
    no such accessor or the frame has repeated column names. A frame fresh from a UDF has had
    its objects push pandas out of the CPU caches: building a Series per column (and the
    GeoSeries that `gdf.crs` / `gdf.geometry` build) costs ~0.35 ms before any data is read,
    against ~0.05 ms for the arrays themselves (10,000 rows, measured)."""
    iget = getattr(getattr(df, "_mgr", None), "iget_values", None)
    if iget is None or not df.columns.is_unique:
        return None
    try:
        return [(c, iget(i)) for i, c in enumerate(df.columns)]
    except Exception:  # noqa: BLE001 — another pandas' internals: the Series path serves
        return None


def _encode_plain_column(name, values, bufs):
    """A column whose array is plain numpy numbers or Python str (the common case), encoded
    exactly as `_encode_column` would encode its Series; None for anything else."""
    if not isinstance(values, np.ndarray) or values.ndim != 1:
        return None
    kind = values.dtype.kind
    col = {"name": str(name)}
    if kind == "f":  # NaN is null (Node decodes NaN floats as null)
        col["type"] = "float"
        bufs.append(np.ascontiguousarray(values, dtype="<f8"))
    elif kind in "iu":
        _int_column(col, np.ascontiguousarray(values, dtype="<i8"), bufs)
    elif kind == "b":
        col["type"] = "bool"
        bufs.append(values.astype(np.uint8))
    elif kind == "O":
        fast = _accel.utf8_column(values)  # reads the object array in place
        if fast is None:
            return None
        offsets, data, nulls = fast
        col["type"] = "str"
        bufs.append(offsets)
        col["offsets"] = len(bufs) - 1
        bufs.append(data)
        if nulls:
            col["data"] = len(bufs) - 1
            bufs.append(np.fromiter((v is not None for v in values), dtype=np.uint8, count=len(values)))
            col["valid"] = len(bufs) - 1
            return col
    else:
        return None
    col["data"] = len(bufs) - 1
    return col


def _encode_gdf_fast(gdf, bufs):
    """`_encode_gdf` for the common GeoDataFrame (EPSG:4326 or no CRS, no named index, one
    geometry column, numeric / text columns) without building a Series per column; None, with
    nothing added to `bufs`, for anything else."""
    arrays = _column_arrays(gdf)
    geom_name = getattr(gdf, "_geometry_column_name", None)
    if arrays is None or gdf.index.name is not None:
        return None
    by_name = dict(arrays)
    ga = by_name.get(geom_name)
    data = getattr(ga, "data", None)
    if not isinstance(data, np.ndarray) or type(ga).__name__ != "GeometryArray":
        return None
    crs = getattr(ga, "crs", None)
    if crs is not None and _epsg(crs) != 4326:
        return None
    start = len(bufs)
    cols = []
    for c, values in arrays:
        if c == geom_name:
            continue
        col = _encode_plain_column(c, values, bufs)
        if col is None:
            del bufs[start:]
            return None
        cols.append(col)
    return _encode_geometry(data, cols, len(gdf), bufs)


def _encode_gdf(gdf, bufs):
    fast = _encode_gdf_fast(gdf, bufs)
    if fast is not None:
        return fast
    crs = gdf.crs
    if crs is not None and _epsg(crs) != 4326:
        gdf = gdf.to_crs(4326)
    geom_name = gdf.geometry.name
    if gdf.index.name is not None:
        gdf = gdf.reset_index()
    cols = []
    for c in _unique_columns(gdf):
        if c == geom_name:
            continue
        s = gdf[c]
        if str(s.dtype) == "geometry":  # other geometry columns travel as WKT text
            s = s.to_wkt()
        cols.append(_encode_column(c, s, bufs))
    ga = gdf.geometry.array
    data = getattr(ga, "data", None)
    geoms = data if isinstance(data, np.ndarray) else np.asarray(list(ga), dtype=object)
    return _encode_geometry(geoms, cols, len(gdf), bufs)


def _encode_geometry(geoms, cols, rows, bufs):
    """The geometry column (coordinates when all points, else WKB) and the features descriptor."""
    points = _point_coords(geoms)
    if points is not None:  # all points: coordinates as one float64 column, no WKB
        coords, valid = points
        bufs.append(coords)
        g = {"t": "points", "dims": int(coords.shape[1]), "data": len(bufs) - 1}
        if not valid.all():
            bufs.append(valid.astype(np.uint8))
            g["valid"] = len(bufs) - 1
        return {"t": "features", "rows": int(rows), "columns": cols, "geometry": g}
    fast = _accel.wkb_column(geoms) if len(geoms) and not hasattr(sys.modules.get("shapely"), "to_wkb") else None
    if fast is not None:  # shapely 1.8: its WKB writer called in one C loop
        bufs.extend(fast)
    else:
        wkb = _to_wkb(geoms)
        isna = np.fromiter((w is None for w in wkb), dtype=bool, count=len(wkb))
        _append_strings(wkb, isna, bufs)
    g = {"offsets": len(bufs) - 2, "data": len(bufs) - 1}
    return {"t": "features", "rows": int(rows), "columns": cols, "geometry": g}
