"""The optional compiled accelerator of the worker's result encoder (``_accel.c``).

shapely 1.8 (Debian 12's) has no vectorised accessors: reading a 10,000-point column from
Python costs ~15 ms of per-object ctypes calls. ``_accel.c`` runs the same GEOS calls in one
C loop (~0.4–0.7 ms), through the function addresses and context handle of shapely's own
loaded libgeos; it also writes WKB and text columns in one pass, and runs shapely's
``BaseGeometry.__del__`` in C (freeing 10,000 points: ~14 → ~2–3 ms).

It is compiled on first use by the system C compiler (``cc``) against this interpreter's
headers (Debian: gcc and python3-dev) into ``<TILESMITH_CACHE_DIR>/_accel/`` — in a background
thread started with the worker, so no call waits for the compiler; calls before it is built,
and every call where it cannot be built or loaded, take the pure-Python path, which gives Node
the same values. It is used only with shapely 1.8 (shapely 2 is vectorised already) and only after a
self-check against the pure path. ``TILESMITH_PY_ACCEL=0`` turns it off.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading

ABI = 5
_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_accel.c")

_module = None  # the loaded extension, once built and checked
_geos = None  # addresses of shapely's GEOS functions, its context handle and WKB writer
_status = "not started"
_path = None  # the built extension, once it exists
_tried = False  # loading is attempted once per process…
_tried_geos = False  # …and so is finding shapely's GEOS
_thread = None
used = {"points": 0, "wkb": 0, "strings": 0}  # columns encoded by the extension (tests, diagnostics)


def status():
    """A sentence for logs and tests: ready, building, or why it is not used."""
    return _status


def _why_not():
    """Why the accelerator cannot be used in this interpreter, or None (cheap: shapely is not imported)."""
    flag = os.environ.get("TILESMITH_PY_ACCEL", "1").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return "turned off (TILESMITH_PY_ACCEL=0)"
    if sys.byteorder != "little":
        return "big-endian machine"
    if sys.implementation.name != "cpython":
        return f"not CPython ({sys.implementation.name})"
    try:
        from importlib.metadata import version

        v = version("shapely")
    except Exception:
        return "shapely is not installed"
    if not v.startswith("1.8"):
        return f"shapely {v} (the accelerator is for shapely 1.8; shapely 2 is vectorised already)"
    return None


def _target(cache_dir):
    with open(_SOURCE, "rb") as f:
        src = f.read()
    tag = hashlib.sha256(src + sys.version.encode() + (sysconfig.get_config_var("EXT_SUFFIX") or "").encode()).hexdigest()[:16]
    return os.path.join(cache_dir, "_accel", f"_tilesmith_accel-{tag}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}")


def _compile(out):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no C compiler (cc / gcc) on PATH"
    include = sysconfig.get_paths().get("include") or ""
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python.h in {include or 'the interpreter'} (Debian: apt-get install python3-dev)"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=os.path.dirname(out))
    os.close(fd)
    try:
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{include}", _SOURCE, "-o", tmp],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            return f"{cc} failed: {r.stdout.decode(errors='replace').strip()[-500:]}"
        os.replace(tmp, out)  # atomic: other workers building the same file never load half of one
        return None
    except Exception as e:  # noqa: BLE001
        return f"{cc} could not run: {e}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tilesmith_accel", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if getattr(mod, "ABI", None) != ABI:
        raise ImportError(f"ABI {getattr(mod, 'ABI', None)} != {ABI}")
    return mod


def _geos_addresses():
    """Addresses of the GEOS functions in shapely's own libgeos, and its context handle."""
    import ctypes

    from shapely.geos import WKBWriter, lgeos

    lib = lgeos._lgeos
    names = ("GEOSGeomTypeId_r", "GEOSGeom_getCoordSeq_r", "GEOSGeom_destroy_r", "GEOSCoordSeq_getSize_r", "GEOSCoordSeq_getXYZ_r",
             "GEOSWKBWriter_write_r", "GEOSFree_r")
    addr = {}
    for n in names:
        if not hasattr(lib, n):
            raise ImportError(f"shapely's GEOS has no {n} (GEOS < 3.8)")
        addr[n] = ctypes.cast(getattr(lib, n), ctypes.c_void_p).value
    handle = lgeos.geos_handle
    handle = handle if isinstance(handle, int) else ctypes.cast(handle, ctypes.c_void_p).value
    writer = WKBWriter(lgeos)  # shapely's writer, with shapely's settings (3-D when the geometry has z)
    w = writer._writer
    w = w if isinstance(w, int) else ctypes.cast(w, ctypes.c_void_p).value
    if not handle or not w:
        raise ImportError("shapely's GEOS handle or WKB writer is null")
    return {"handle": handle, "writer": w, "keep": writer, **addr}


def _objects(items):
    """A 1-D numpy object array of `items` (assigned one by one: numpy would unpack shapely
    points, which expose an array interface)."""
    import numpy as np

    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v
    return out


def _self_check_strings(mod):
    import numpy as np

    want = (np.array([0, 1, 1, 6, 6], "<u4").tobytes(), "aé€".encode(), 1)
    values = ["a", None, "é€", ""]
    if mod.utf8_column(values) != want or mod.utf8_column(_objects(values)) != want \
            or mod.utf8_column(["a", 1]) is not None or mod.utf8_column(_objects(["a", 1])) is not None:
        raise ImportError("string self-check failed")


def _self_check_geos(mod, geos):
    """The accelerator's output on a few geometries must equal shapely's own answers."""
    import numpy as np
    from shapely import wkt
    from shapely.geometry import Point
    from shapely.geometry.base import BaseGeometry
    from shapely.geos import WKBWriter, lgeos

    pts = [Point(1.5, -2.25), None, Point(), Point(3, 4, 5), wkt.loads("POINT EMPTY")]
    got = _points(mod, geos, pts)
    as_array = _points(mod, geos, _objects(pts))
    if got is None or as_array is None or any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(got, as_array)):
        raise ImportError(f"point self-check failed: {got} from a list, {as_array} from an array")
    ok = got is not None and got[0].shape == (5, 3) and got[1].tolist() == [True, False, False, True, False]
    if ok:
        xyz = got[0]
        ok = xyz[0, :2].tolist() == [1.5, -2.25] and np.isnan(xyz[0, 2]) and xyz[3].tolist() == [3, 4, 5] \
            and np.isnan(xyz[[1, 2, 4]]).all()
    if not ok:
        raise ImportError(f"point self-check failed: {got}")
    if _points(mod, geos, [Point(1, 2), wkt.loads("LINESTRING (0 0, 1 1)")]) is not None:
        raise ImportError("point self-check failed: a LineString was read as a point")
    geoms = [wkt.loads("LINESTRING (0 0, 1 1, 2 0)"), None, wkt.loads("POLYGON ((0 0, 1 0, 1 1, 0 0))"), Point(1, 2, 3)]
    offs, data = mod.wkb_column(geoms, BaseGeometry, geos["handle"], geos["writer"], geos["GEOSWKBWriter_write_r"], geos["GEOSFree_r"])
    if mod.wkb_column(_objects(geoms), BaseGeometry, geos["handle"], geos["writer"], geos["GEOSWKBWriter_write_r"], geos["GEOSFree_r"]) != (offs, data):
        raise ImportError("WKB self-check failed (object array)")
    w = WKBWriter(lgeos)
    expect = [b"" if g is None else w.write(g) for g in geoms]
    got = [data[a:b] for a, b in zip(np.frombuffer(offs, "<u4")[:-1], np.frombuffer(offs, "<u4")[1:])]
    if got != expect:
        raise ImportError("WKB self-check failed")


def start(cache_dir):
    """Starts building the extension in a background thread when it is not built yet (the
    compiler is a subprocess, so the worker's own thread keeps running). Never raises."""
    global _status, _path, _thread
    if _thread is not None or _path is not None:
        return
    why = _why_not()
    if why:
        _status = f"not used: {why}"
        return
    try:
        path = _target(cache_dir)
    except OSError as e:
        _status = f"not used: cannot read {_SOURCE}: {e}"
        return
    if os.path.exists(path):
        _path = path
        _status = "built"
        return

    def run():
        global _status, _path
        try:
            err = _compile(path)
        except BaseException as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {e}"
        if err:
            _status = f"not built: {err}"
        else:
            _path = path
            _status = "built"

    _status = "building"
    _thread = threading.Thread(target=run, name="tilesmith-accel-build", daemon=True)
    _thread.start()


def wait(timeout=None):
    """Waits for a running build (tests; the worker never waits)."""
    if _thread is not None:
        _thread.join(timeout)


def _ready(geos=False):
    """The checked extension (with shapely's GEOS addresses when ``geos``), loading it on first
    use once built; None means: take the pure path. Runs on the worker's main thread only, like
    every other GEOS call (shapely 1.8 shares one GEOS context handle, which is not safe to use
    from two threads at once)."""
    global _module, _geos, _status, _tried, _tried_geos
    if _module is None:
        if _path is None or _tried:
            return None
        _tried = True
        try:
            mod = _load(_path)
            _self_check_strings(mod)
        except Exception as e:  # noqa: BLE001 — anything wrong: the pure path serves
            _status = f"not used: {type(e).__name__}: {e}"
            return None
        _module = mod
        _status = f"ready ({os.path.basename(_path)})"
    if not geos:
        return _module
    if _geos is None:
        if _tried_geos:
            return None
        _tried_geos = True
        try:
            g = _geos_addresses()
            _self_check_geos(_module, g)
        except Exception as e:  # noqa: BLE001
            _status = f"ready for strings; geometries not: {type(e).__name__}: {e}"
            return None
        _geos = g
        _install_fast_free(_module, g)
    return _module


# shapely 1.8.x's BaseGeometry.__del__ and _empty, by the names their code uses: the C version
# replaces them only when they are exactly these.
_DEL_NAMES = ("_empty", "__p__")
_EMPTY_NAMES = ("_other_owned", "__geom__", "EMPTY", "_lgeos", "GEOSGeom_destroy", "AttributeError", "TypeError", "log",
                "exception", "_is_empty")
fast_free = False  # whether shapely's __del__ runs in C in this process


def _install_fast_free(mod, geos):
    """Freeing a shapely 1.8 geometry runs Python code (``__del__`` → ``_empty``, and three
    attribute writes through shapely's own ``__setattr__``): ~1.4 µs each, 14 ms for the 10,000
    points of a result. The same steps in C cost ~0.3 µs. Installed in the worker process only,
    only over the exact shapely 1.8 code it mirrors, and only after a check on real geometries."""
    global fast_free, _status
    try:
        from shapely.geometry import Polygon
        from shapely.geometry.base import EMPTY, BaseGeometry

        if BaseGeometry.__del__.__code__.co_names != _DEL_NAMES or BaseGeometry._empty.__code__.co_names != _EMPTY_NAMES:
            _status += "; shapely's __del__ is not the one the C version mirrors (kept)"
            return
        mod.set_destroy(geos["handle"], geos["GEOSGeom_destroy_r"], EMPTY)
        poly = Polygon([(0, 0), (2, 0), (2, 2), (0, 0)])
        ring = poly.exterior  # owned by poly: freeing the ring must leave poly's GEOS object alone
        mod.free_geometry(ring)
        if poly.area != 2.0 or ring.__dict__.get("__geom__", 0) is not None or ring.__dict__.get("_is_empty") is not True:
            raise ImportError("free self-check failed")
        mod.free_geometry(poly)
        if poly.__dict__.get("__geom__", 0) is not None or poly.__dict__.get("__p__", 0) is not None:
            raise ImportError("free self-check failed")

        def __del__(self, _free=mod.free_geometry, _empty=BaseGeometry._empty, _python=BaseGeometry.__del__):  # noqa: N807
            if type(self)._empty is _empty:  # shapely's own steps: in C (see _accel.c free_geometry)
                _free(self)
            else:  # a subclass with its own _empty keeps it
                _python(self)

        BaseGeometry.__del__ = __del__
        fast_free = True
    except Exception as e:  # noqa: BLE001
        _status += f"; shapely's __del__ kept ({type(e).__name__}: {e})"


def _points(mod, g, geoms):
    import numpy as np
    from shapely.geometry import Point

    n = len(geoms)
    xy = np.empty((n, 2), dtype="<f8")
    z = np.empty(n, dtype="<f8")
    valid = np.empty(n, dtype=np.uint8)
    r = mod.point_coords(geoms, Point, g["handle"], g["GEOSGeomTypeId_r"], g["GEOSGeom_getCoordSeq_r"],
                         g["GEOSCoordSeq_getSize_r"], g["GEOSCoordSeq_getXYZ_r"], xy, z, valid)
    if r is None:
        return None
    if r[1] == 0:  # no z anywhere: 2-D coordinates, already contiguous
        return xy, valid.view(bool)
    return np.ascontiguousarray(np.column_stack((xy, z)), dtype="<f8"), valid.view(bool)


def point_coords(geoms):
    """(coords (n, 2), or (n, 3) when any point has a z, float64 (NaN for null / empty rows and
    for the z of 2-D points), valid bool) of an all-Point shapely 1.8 column, or None when the
    accelerator is not ready or the column is not all Points."""
    m = _ready(geos=True)
    if m is None:
        return None
    r = _points(m, _geos, _as_list(geoms))
    if r is not None:
        used["points"] += 1
    return r


def _as_list(values):
    """What the extension reads: a list, or a 1-D C-contiguous numpy object array as it is (read
    in place, without the ~0.1 ms `tolist()` of 10,000 items); anything else as a list."""
    if type(values) is list:
        return values
    dtype = getattr(values, "dtype", None)
    if dtype is not None and dtype.kind == "O" and values.ndim == 1 and values.flags.c_contiguous:
        return values
    tolist = getattr(values, "tolist", None)  # other numpy arrays: one C call, no per-item iteration
    return tolist() if tolist is not None and getattr(values, "ndim", 1) == 1 else list(values)


def wkb_column(geoms):
    """(offsets (n+1) uint32 bytes, data bytes) of a shapely 1.8 geometry column, or None."""
    m = _ready(geos=True)
    if m is None:
        return None
    g = _geos
    from shapely.geometry.base import BaseGeometry

    r = m.wkb_column(_as_list(geoms), BaseGeometry, g["handle"], g["writer"], g["GEOSWKBWriter_write_r"], g["GEOSFree_r"])
    if r is not None:
        used["wkb"] += 1
    return r


def utf8_column(values):
    """(offsets (n+1) uint32 bytes, data bytes, number of None) of a list (or 1-D object array)
    of str / None, or None."""
    m = _ready()
    if m is None:
        return None
    r = m.utf8_column(_as_list(values))
    if r is not None:
        used["strings"] += 1
    return r
