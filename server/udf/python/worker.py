"""tilesmith Python worker: one persistent process of the pool (see pool.ts).

Protocol (frames.md in protocol.ts): every frame on stdin/stdout is

    u32 LE  n        length of everything after these 4 bytes
    u8      type     b'L' load, b'C' call, b'P' echo (Node -> worker)
                     b'H' hello, b'R' result, b'E' error (worker -> Node)
    u32 LE  h        length of the JSON header
    h bytes header   UTF-8 JSON
    n-5-h   payload  binary buffers, each at an 8-byte aligned offset listed in header.buffers

The real stdout file descriptor is kept for frames only: fd 1 is pointed at stderr and
sys.stdout / sys.stderr capture everything a UDF prints into its log lines, so nothing a UDF
(or a C extension) writes can corrupt the protocol.
"""
import os
import sys

# --- 1. Protect the protocol before anything else can write to fd 1 or read fd 0. ---------
_OUT_FD = os.dup(1)
_IN_FD = os.dup(0)
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)

# --- 2. Memory cap before the heavy imports, so they count too. -----------------------------
import resource  # noqa: E402

MEMORY_MB = int(os.environ.get("TILESMITH_MEMORY_MB", "0") or 0)
if MEMORY_MB > 0:
    _limit = MEMORY_MB * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
    except (ValueError, OSError) as e:  # a hard limit below ours: keep the stricter one
        print(f"tilesmith worker: could not set the memory limit: {e}", file=sys.stderr)

import io  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
import zipfile  # noqa: E402
import shutil  # noqa: E402

# Ctrl-C in the server's terminal reaches the whole process group; Node decides when we stop.
signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- 3. Die with the server, and take everything a UDF forked along. ----------------------
# Node starts us as the leader of a new process group and kills the group when it stops us.
# If Node itself is killed (even SIGKILL), the kernel sends us SIGTERM (PR_SET_PDEATHSIG);
# we then SIGKILL our group and every descendant. As a child subreaper, processes a UDF
# detached from (double fork, setsid) are re-parented to us, so we still find them.
def _server_gone(parent):
    """Whether the server process has ended (re-parented us, or is a zombie / gone). Right
    after PR_SET_PDEATHSIG fires, the server may still be a dying process whose other threads
    are being torn down: getppid() can still name it."""
    if os.getppid() != parent:
        return True
    try:
        with open(f"/proc/{parent}/stat") as fh:
            stat = fh.read()
        return stat[stat.rindex(")") + 2] in "ZXx"
    except (OSError, ValueError, IndexError):
        return True


def _remove_results_if_orphaned():
    """The server is gone: nobody will read or remove the result files of our pool (see
    result-files.ts), so the first worker to notice removes the pool's folder. Never while the
    server runs (a stray SIGTERM to one worker must not take the others' files)."""
    folder = os.environ.get("TILESMITH_RESULT_DIR", "")
    parent = int(os.environ.get("TILESMITH_PARENT_PID", "0") or 0)
    if not folder or not parent:
        return
    for _ in range(50):  # up to ~0.5 s for a dying server to be gone
        if _server_gone(parent):
            shutil.rmtree(folder, ignore_errors=True)
            return
        time.sleep(0.01)


def _kill_tree():
    _remove_results_if_orphaned()
    me = os.getpid()
    todo, seen = [me], set()
    while todo:  # descendants via /proc/<pid>/task/<tid>/children
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except (OSError, ValueError):
                continue
            for k in kids:
                if k not in seen:
                    seen.add(k)
                    todo.append(k)
    for k in seen:
        try:
            os.kill(k, signal.SIGKILL)
        except OSError:
            pass
    try:
        if os.getpgid(0) == me:  # only a group we lead: never the shell's or the server's group
            os.killpg(me, signal.SIGKILL)  # our group, ourselves included
    except OSError:
        pass
    os._exit(1)


_WORKER_PID = os.getpid()


def _on_parent_death(signum, frame):
    if os.getpid() != _WORKER_PID:  # a forked child inherited this handler: plain SIGTERM for it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _kill_tree()


def _setup_parent_death():
    parent = int(os.environ.get("TILESMITH_PARENT_PID", "0") or 0)
    signal.signal(signal.SIGTERM, _on_parent_death)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception as e:  # not Linux: the watcher thread below still notices
        print(f"tilesmith worker: prctl is not available ({e}); polling for the server instead", file=sys.stderr)
    if parent and os.getppid() != parent:  # the server died before prctl took effect
        _kill_tree()
    if parent:
        # A signal handler only runs between bytecodes; this thread also covers a main thread
        # that sits in a long C call which releases the GIL.
        import threading

        def watch():
            while True:
                time.sleep(1.0)
                if os.getppid() != parent:
                    _kill_tree()

        threading.Thread(target=watch, name="tilesmith-parent-watch", daemon=True).start()


_setup_parent_death()


def _tune_malloc():
    """Large numpy arrays (a 256×256 float32 raster is 256 KiB) are above glibc's initial
    mmap threshold (128 KiB): each one is a fresh mmap whose pages fault in and are unmapped
    on free, ~0.4 ms for a small raster UDF. glibc raises the threshold by itself only after
    it has freed a larger mapped block, so a worker's speed depended on what it happened to
    run before (measured: the same raster UDF 0.55 ms in a fresh worker, 0.15 ms after a
    GeoDataFrame). Set here from the start to the values glibc's own adjustment ends at (its
    ceiling: 32 MiB on 64-bit, trim at twice that): blocks under 32 MiB come from the heap and
    are reused; free memory at the heap's top goes back to the system above 64 MiB."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
    except Exception:  # noqa: BLE001 — not glibc: its defaults stay
        pass


_tune_malloc()

# Loaded once per process: UDF calls never pay these imports.
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_WORKER_FILE = os.path.abspath(__file__)
# Frames of these files lead a traceback before the UDF's own: users are shown from the UDF on.
_INTERNAL_FILES = {_WORKER_FILE, os.path.join(os.path.dirname(_WORKER_FILE), "tilesmith", "_encode.py")}
_LOG_LIMIT = 2000  # lines kept per call


# --- Log capture ---------------------------------------------------------------------------
class _LogCapture(io.TextIOBase):
    """sys.stdout / sys.stderr replacement: keeps text for the call's logs and tees it to
    stderr, so a crash report (stderr tail) shows what the UDF printed last."""

    def __init__(self):
        self.parts = []
        self.size = 0

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            s = str(s)
        if self.size < 1_000_000:
            self.parts.append(s)
            self.size += len(s)
        try:
            os.write(2, s.encode("utf-8", "replace"))
        except OSError:
            pass
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    def drain(self):
        text = "".join(self.parts)
        self.parts = []
        self.size = 0
        if not text:
            return []
        lines = text.splitlines()
        return lines[-_LOG_LIMIT:]


_capture = _LogCapture()
sys.stdout = _capture
sys.stderr = _capture

# --- Frames --------------------------------------------------------------------------------
_out = os.fdopen(_OUT_FD, "wb", buffering=1 << 16)
_in = os.fdopen(_IN_FD, "rb", buffering=1 << 16)


def _read_exact(n):
    data = _in.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


def read_frame():
    (n,) = struct.unpack("<I", _read_exact(4))
    body = _read_exact(n)
    ftype = body[0:1]
    (h,) = struct.unpack_from("<I", body, 1)
    header = json.loads(body[5 : 5 + h])
    return ftype, header, memoryview(body)[5 + h :]


def send(ftype, header, buffers=(), file_id=None):
    """Writes one frame; buffers are placed at 8-byte aligned offsets listed in header.buffers."""
    _write_frame(pack(ftype, header, buffers, file_id))


# Large payloads go through a file in the pool's private folder instead of the pipe (see
# result-files.ts): one writev here and one read in Node, instead of a write that blocks every
# ~208 KiB until Node has read the socket back 64 KiB at a time. Empty: always the pipe.
_RESULT_DIR = os.environ.get("TILESMITH_RESULT_DIR", "")
try:
    _RESULT_FILE_MIN = int(os.environ.get("TILESMITH_RESULT_FILE_MIN", "") or 65536)
except ValueError:
    _RESULT_FILE_MIN = 65536
_IOV_MAX = 1024
_O_PRIVATE = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)  # not on every OS


def _dump_header(header):
    try:
        return json.dumps(header, default=_json_default, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        return json.dumps(_clean_floats(header), default=_json_default, separators=(",", ":")).encode()


def _write_result_file(file_id, parts, total):
    """Writes a payload to <result dir>/<file_id> (0600, O_EXCL: never an existing file or a
    symlink). False, with nothing left behind, when it cannot (disk full, folder gone): the
    payload then goes through the pipe."""
    path = os.path.join(_RESULT_DIR, str(int(file_id)))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_PRIVATE, 0o600)
    except OSError:
        return False
    ok = False
    try:
        views = list(parts)
        written = 0
        while views:
            n = os.writev(fd, views[:_IOV_MAX])
            written += n
            while views and n >= views[0].nbytes:
                n -= views[0].nbytes
                views.pop(0)
            if n:
                views[0] = views[0][n:]
        ok = written == total
    except OSError:
        ok = False
    finally:
        os.close(fd)
        if not ok:
            try:
                os.unlink(path)
            except OSError:
                pass
    return ok


def pack(ftype, header, buffers=(), file_id=None):
    """Builds a frame without writing anything to the pipe, so a value that cannot be encoded
    raises before a single byte reaches the protocol (and becomes an error frame instead).
    With `file_id` (the id of the call or echo answered), a payload of at least
    TILESMITH_RESULT_FILE_MIN bytes is written to the result folder and the frame names its
    length in `payloadFile` instead of carrying it; the header is encoded first, so nothing is
    written for a frame that cannot be sent."""
    offsets = []
    pos = 0
    padded = []
    for b in buffers:
        mv = memoryview(b).cast("B")
        offsets.append([pos, mv.nbytes])
        padded.append(mv)
        pad = (-mv.nbytes) % 8
        if pad:
            padded.append(memoryview(b"\0" * pad))
        pos += mv.nbytes + pad
    if buffers:
        header["buffers"] = offsets
    if file_id is not None and _RESULT_DIR and pos >= _RESULT_FILE_MIN:
        header["payloadFile"] = pos
        hjson = _dump_header(header)
        if _write_result_file(file_id, padded, pos):
            return [struct.pack("<IcI", 5 + len(hjson), ftype, len(hjson)), hjson]
        del header["payloadFile"]
    hjson = _dump_header(header)
    return [struct.pack("<IcI", 5 + len(hjson) + pos, ftype, len(hjson)), hjson] + padded


import threading  # noqa: E402

_write_lock = threading.Lock()  # a UDF thread's status() must not interleave with a result frame


def _write_frame(parts):
    with _write_lock:
        for p in parts:
            _out.write(p)
        _out.flush()


# --- UDF loading ---------------------------------------------------------------------------
class LoadedUdf:
    __slots__ = ("name", "code_hash", "module", "func", "dirs", "local", "bounds_param", "params",
                 "options", "entry", "accepts_kwargs", "context")


_udfs = {}  # name -> LoadedUdf
_all_local_names = set()  # module names that came from some UDF's folder (e.g. 'utils')
_active = None
# Last on the path: stand-ins (mercantile) used only when the real package is not installed.
sys.path.append(os.path.join(os.path.dirname(_WORKER_FILE), "fallback"))
_base_path = list(sys.path)


class LoadFailure(Exception):
    pass


def _under(path, dirs):
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def _collect_local_modules(dirs):
    out = {}
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and _under(os.path.abspath(f), dirs):
            out[name] = mod
    return out


def _activate(u):
    """Makes `u`'s own helper modules (utils.py …) the ones `import` finds, since every
    Fused folder calls its helpers `utils`."""
    global _active
    if _active is u:
        return
    for n in _all_local_names:
        m = sys.modules.get(n)
        if m is not None and u.local.get(n) is not m:
            del sys.modules[n]
    sys.modules.update(u.local)
    sys.path[:] = u.dirs + _base_path
    try:
        os.chdir(u.dirs[0])
    except OSError:
        pass
    _active = u


def _extract_zip(spec):
    z = spec["zip"]
    target = z["dir"]
    if not os.path.isdir(target):
        tmp = f"{target}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(z["path"]) as zf:
            zf.extractall(tmp)  # extractall drops absolute paths and '..' parts
        try:
            os.rename(tmp, target)
        except OSError:  # another worker won the race
            shutil.rmtree(tmp, ignore_errors=True)
    root = target
    entries = [e for e in os.listdir(root) if not e.startswith(".") and e != "__MACOSX"]
    if len(entries) == 1 and os.path.isdir(os.path.join(root, entries[0])) and not any(e.endswith(".py") for e in entries):
        root = os.path.join(root, entries[0])
    names = sorted(e for e in os.listdir(root) if e.endswith(".py") and not e.startswith("_"))
    for cand in ("main.py", spec["name"] + ".py"):
        if cand in names:
            return root, os.path.join(root, cand)
    if len(names) == 1:
        return root, os.path.join(root, names[0])
    raise LoadFailure(
        f"zip UDF {spec['name']!r}: no entry file found; put main.py or {spec['name']}.py at the top of the zip "
        f"(top-level .py files: {', '.join(names) or 'none'})"
    )


def _ensure_loaded(spec):
    name = spec["name"]
    u = _udfs.get(name)
    if u is not None and u.code_hash == spec["codeHash"]:
        return u
    global _active
    if u is not None:  # changed code: forget the old module and its helpers
        for n in u.local:
            sys.modules.pop(n, None)
        del _udfs[name]
        if _active is u:
            _active = None
    if spec.get("zip"):
        root, entry = _extract_zip(spec)
        dirs = [root]
    else:
        entry = spec["entry"]
        dirs = [os.path.dirname(entry)]
    dirs = [os.path.abspath(d) for d in dirs]

    u = LoadedUdf()
    u.name = name
    u.code_hash = spec["codeHash"]
    u.dirs = dirs
    u.local = {}
    u.entry = entry
    # Helper modules of another UDF with the same names must not leak into this one.
    for n in _all_local_names:
        sys.modules.pop(n, None)
    sys.path[:] = dirs + _base_path
    try:
        os.chdir(dirs[0])
    except OSError:
        pass
    _active = None

    with open(entry, "rb") as f:
        source = f.read()
    modname = "tilesmith_udf_" + "".join(c if c.isalnum() else "_" for c in name)
    module = types.ModuleType(modname)
    module.__file__ = entry
    # Fused injects `fused` into a UDF's globals: unmodified Fused UDFs never import it.
    import fused as _fused_compat

    module.__dict__["fused"] = _fused_compat
    sys.modules[modname] = module
    code = compile(source, entry, "exec")
    _run_context.begin(name)  # fused.file_path / fused.context at import time
    exec(code, module.__dict__)

    u.module = module
    u.local = _collect_local_modules(dirs)
    u.local.pop(modname, None)
    _all_local_names.update(u.local)
    u.func = _find_entry(module, spec)
    _introspect(u, spec)
    _udfs[name] = u
    return u


def _find_entry(module, spec):
    ns = module.__dict__
    marked = [v for k, v in ns.items() if callable(v) and getattr(v, "__tilesmith_udf__", None) is not None
              and getattr(v, "__module__", None) == module.__name__]
    wanted = spec.get("entrypoint") or "udf"
    for v in marked:
        if v.__name__ == wanted or ns.get(wanted) is v:
            return v
    if marked:
        return marked[0]
    fn = ns.get(wanted)
    if callable(fn):
        return fn
    raise LoadFailure(
        f"{os.path.basename(spec.get('entry') or spec['name'])}: no UDF function found; decorate one function "
        f"with @udf (from tilesmith import udf) or @fused.udf, or name it `{wanted}`"
    )


# --- Introspection -------------------------------------------------------------------------
_SIMPLE = {int: "int", float: "float", bool: "bool", str: "str", list: "list", tuple: "list", set: "list",
           dict: "dict"}
_BOUNDS_MARKERS = {"bounds": "list", "tile": "gdf", "viewport": "gdf"}
_CONTEXT = ("tile", "tile_size", "x", "y", "z")  # x, y, z: legacy Fused tile UDFs `def udf(x, y, z)`


def _marker(ann):
    return getattr(ann, "__tilesmith_type__", None)


def _unwrap_optional(ann):
    import typing

    origin = typing.get_origin(ann)
    if origin is typing.Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    if origin is typing.Annotated:
        return typing.get_args(ann)[0]
    return ann


def _param_type(ann):
    """Maps an annotation to a tilesmith ParamType (unannotated -> 'str', as Fused does)."""
    import inspect
    import typing

    if ann is inspect.Parameter.empty or ann is None or ann is typing.Any:
        return "str", None
    if isinstance(ann, str):
        return _param_type_from_text(ann)
    ann = _unwrap_optional(ann)
    m = _marker(ann)
    if m in _BOUNDS_MARKERS:
        return "bounds", _BOUNDS_MARKERS[m]
    if ann in _SIMPLE:
        return _SIMPLE[ann], ("tuple" if ann is tuple else None)
    origin = typing.get_origin(ann)
    if origin in _SIMPLE:
        return _SIMPLE[origin], ("tuple" if origin is tuple else None)
    if origin is not None and getattr(origin, "__name__", "") in ("Sequence", "List", "Iterable"):
        return "list", None
    if isinstance(ann, type):
        mod = ann.__module__.split(".")[0]
        if mod == "geopandas" and ann.__name__ in ("GeoDataFrame", "GeoSeries"):
            return "geojson", "gdf"
        if mod == "pandas" and ann.__name__ == "DataFrame":
            return "json", "df"
    return "str", None


def _param_type_from_text(text):
    t = text.replace(" ", "").replace("Optional[", "").rstrip("]").split("|")[0]
    last = t.split(".")[-1].split("[")[0]
    if last == "Bounds":
        return "bounds", "list"
    if last in ("Tile", "TileGDF", "Bbox", "ViewportGDF"):
        return "bounds", "gdf"
    if last == "GeoDataFrame":
        return "geojson", "gdf"
    if last == "DataFrame":
        return "json", "df"
    simple = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list", "List": "list",
              "tuple": "list", "dict": "dict", "Dict": "dict"}
    return simple.get(last, "str"), ("tuple" if last == "tuple" else None)


def _jsonable_default(v):
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, np.generic):
        v = v.item()
    try:
        json.dumps(v, allow_nan=False)
        return True, v
    except (TypeError, ValueError):
        return False, None


def _introspect(u, spec):
    import inspect
    import typing

    fn = u.func
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = inspect.Signature()
    try:
        hints = typing.get_type_hints(fn, include_extras=False)
    except Exception:  # unresolvable string annotations: fall back to their text
        hints = {}
    overrides = dict(getattr(fn, "__tilesmith_udf__", {}).get("default_parameters") or {})
    overrides.update(spec.get("defaults") or {})
    u.bounds_param = None
    u.accepts_kwargs = False
    u.context = []
    params = {}
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            u.accepts_kwargs = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        ann = hints.get(p.name, p.annotation)
        ptype, conv = _param_type(ann)
        if p.name in _CONTEXT and ptype in ("str", "int", "dict", "float"):
            # Filled from the request (tile {x, y, z} or None; tile size in pixels), not a query parameter.
            u.context.append(p.name)
            continue
        if u.bounds_param is None and (ptype == "bounds" or p.name in ("bounds", "bbox")):
            if ptype == "bounds":
                mode = conv
            elif ptype == "geojson":
                mode = "gdf"
            elif ann is inspect.Parameter.empty:
                mode = "gdf" if p.name == "bbox" else "list"  # legacy Fused: a bare `bbox` was a tile GeoDataFrame
            else:
                mode = "list"
            u.bounds_param = (p.name, mode)
            continue
        entry = {"type": ptype}
        if conv:
            entry["convert"] = conv
        if p.name in overrides:
            ok, v = _jsonable_default(overrides[p.name])
            if ok:
                entry["default"] = v
        elif p.default is not inspect.Parameter.empty:
            ok, v = _jsonable_default(p.default)
            if ok and v is not None:
                entry["default"] = v
        else:
            entry["required"] = True
        params[p.name] = entry
    u.params = params
    u.options = dict(getattr(fn, "__tilesmith_udf__", {}).get("options") or {})


# --- Calls ---------------------------------------------------------------------------------
def _tile_gdf(bounds, tile):
    import geopandas as gpd
    from shapely.geometry import box

    x, y, z = (tile["x"], tile["y"], tile["z"]) if tile else (None, None, None)
    return gpd.GeoDataFrame({"x": [x], "y": [y], "z": [z]}, geometry=[box(*bounds)], crs="EPSG:4326")


def _coerce(value, entry):
    """The server coerces query values; this only covers direct calls and the pandas types."""
    t = entry["type"]
    conv = entry.get("convert")
    if value is None:
        return None
    if t == "int" and isinstance(value, str):
        return int(value)
    if t == "float" and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if t == "bool" and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if t in ("list", "dict", "json", "geojson") and isinstance(value, str):
        s = value.strip()
        value = json.loads(s) if s[:1] in "[{\"" or s in ("null", "true", "false") else (s.split(",") if t == "list" else s)
    if conv == "tuple" and isinstance(value, list):
        return tuple(value)
    if conv == "gdf":
        import geopandas as gpd

        if isinstance(value, dict) and value.get("type") == "FeatureCollection":
            return gpd.GeoDataFrame.from_features(value["features"], crs="EPSG:4326")
        if isinstance(value, dict) and value.get("type") == "Feature":
            return gpd.GeoDataFrame.from_features([value], crs="EPSG:4326")
        if isinstance(value, dict) and "type" in value:
            from shapely.geometry import shape

            return gpd.GeoDataFrame(geometry=[shape(value)], crs="EPSG:4326")
    if conv == "df":
        return pd.DataFrame(value)
    return value


def _build_kwargs(u, h):
    kwargs = {}
    if u.bounds_param is not None:
        name, mode = u.bounds_param
        b = h.get("bounds")
        if b is not None:
            if mode == "gdf":
                kwargs[name] = _tile_gdf(b, h.get("tile"))
            else:
                from tilesmith import Bounds

                kwargs[name] = Bounds(b)
    for name in u.context:
        if name == "tile":
            kwargs[name] = h.get("tile")
        elif name == "tile_size":
            kwargs[name] = int(h.get("tileSize") or 256)
        else:
            kwargs[name] = (h.get("tile") or {}).get(name)
    params = h.get("params") or {}
    for k, v in params.items():
        entry = u.params.get(k)
        if entry is not None:
            kwargs[k] = _coerce(v, entry)
        elif u.accepts_kwargs:
            kwargs[k] = v
    return kwargs


from tilesmith._context import current as _run_context, set_reporter as _set_reporter  # noqa: E402

_call_id = None  # the id of the call running now: status frames name it


def _report(update):
    """Sends a status frame ('S') while the UDF runs; the server records it at once."""
    if _call_id is not None:
        send(b"S", dict(update, id=_call_id))


_set_reporter(_report)
# Encoding results (tilesmith/_encode.py): numpy, pandas, geopandas, the compiled accelerator.
from tilesmith._encode import _SUPPORTED, Unsupported, encode_result, _clean_floats, _json_default, _type_name  # noqa: E402
from tilesmith import _accel  # noqa: E402 — compiled fast paths of the encoder (optional), started below


# --- Main loop -----------------------------------------------------------------------------
def _user_traceback(e):
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _INTERNAL_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _http_error(e):
    """(status, message) when `e` is a UDF's 4xx answer: tilesmith.HttpError / BadRequest, or
    fastapi's (starlette's) HTTPException, as Fused UDFs raise; else None."""
    from tilesmith import HttpError

    if isinstance(e, HttpError):
        return e.status, e.message
    starlette = sys.modules.get("starlette.exceptions")  # fastapi.HTTPException subclasses it
    base = getattr(starlette, "HTTPException", None) if starlette else None
    if base is not None and isinstance(e, base):
        status = getattr(e, "status_code", None)
        if isinstance(status, int) and 400 <= status <= 499:
            detail = getattr(e, "detail", None)
            if not isinstance(detail, str):
                try:
                    detail = json.dumps(detail, default=str)
                except Exception:
                    detail = str(detail)
            return status, detail
    return None


def _error(rid, kind, e, logs, **extra):
    msg = str(e) if kind in ("unsupported", "load") and isinstance(e, (Unsupported, LoadFailure)) else f"{type(e).__name__}: {e}"
    h = {"id": rid, "kind": kind, "message": msg, "traceback": _user_traceback(e), "logs": logs}
    h.update(extra)
    send(b"E", h)


def handle_load(h):
    rid = h["id"]
    try:
        u = _ensure_loaded(h["udf"])
    except BaseException as e:  # noqa: BLE001 — a UDF's import may raise anything, even SystemExit
        _error(rid, "memory" if isinstance(e, MemoryError) else "load", e, _capture.drain())
        return
    bp = u.bounds_param
    send(b"R", {"id": rid, "logs": _capture.drain(), "params": u.params, "options": u.options,
                "boundsParam": bp[0] if bp else None, "boundsMode": bp[1] if bp else None,
                "function": u.func.__name__, "entry": u.entry})


def handle_call(h):
    global _call_id
    rid = h["id"]
    _call_id = rid
    try:
        _handle_call(h, rid)
    finally:
        _call_id = None


def _handle_call(h, rid):
    global _freed_ms
    try:
        u = _ensure_loaded(h["udf"])
        _activate(u)
    except BaseException as e:  # noqa: BLE001
        _error(rid, "memory" if isinstance(e, MemoryError) else "load", e, _capture.drain())
        return
    n_modules = len(sys.modules)
    t0 = time.perf_counter()
    try:
        _run_context.begin(u.name, h)
        kwargs = _build_kwargs(u, h)
        value = u.func(**kwargs)
        t1 = time.perf_counter()
        desc, bufs = encode_result(value)
    except MemoryError as e:
        _error(rid, "memory", e, _capture.drain())
        return
    except Unsupported as e:
        _error(rid, "unsupported", e, _capture.drain())
        return
    except BaseException as e:  # noqa: BLE001 — SystemExit / KeyboardInterrupt from a UDF are its errors too
        http = _http_error(e)
        if http is not None:
            send(b"E", {"id": rid, "kind": "http", "status": http[0], "message": http[1], "logs": _capture.drain()})
        else:
            _error(rid, "exception", e, _capture.drain())
        return
    finally:
        if len(sys.modules) != n_modules:  # lazy `from utils import …` inside the function
            u.local.update(_collect_local_modules(u.dirs))
            u.local.pop(u.module.__name__, None)
            _all_local_names.update(u.local)
    t2 = time.perf_counter()
    logs = _capture.drain()
    timings = {"udf": (t1 - t0) * 1000, "encode": (t2 - t1) * 1000}
    if _freed_ms is not None:
        timings["freedBefore"] = _freed_ms
        _freed_ms = None
    try:
        frame = pack(b"R", {"id": rid, "logs": logs, "result": desc, "timings": timings}, bufs, file_id=rid)
    except Exception as e:  # noqa: BLE001 — e.g. a value json cannot encode deep inside a dict
        _error(rid, "unsupported", Unsupported(f"the UDF's result could not be sent: {type(e).__name__}: {e}; "
                                               f"supported return types: {_SUPPORTED}"), logs)
        return
    _write_frame(frame)
    # The reply is out: free the result now (with shapely 1.8, every geometry is a Python
    # object whose __del__ destroys its GEOS copy, ~1 µs each) and time it, so the cost of the
    # UDF's objects is reported on its own (the next result's timings.freedBefore) rather than
    # showing up, unexplained, as latency of whichever call comes next.
    t3 = time.perf_counter()
    del value, desc, bufs, frame, kwargs
    _freed_ms = (time.perf_counter() - t3) * 1000


_freed_ms = None  # time spent freeing the previous call's result after its reply


def main():
    cache_dir = os.environ.get("TILESMITH_CACHE_DIR")
    if cache_dir:
        _accel.start(cache_dir)  # compiles in the background the first time; pure Python until then
    try:
        import pyarrow  # noqa: F401
        has_arrow = True
    except Exception:
        has_arrow = False
    send(b"H", {"pid": os.getpid(), "python": sys.executable, "version": sys.version.split()[0],
                "numpy": np.__version__, "pandas": pd.__version__, "pyarrow": has_arrow,
                "memoryMb": MEMORY_MB, "logs": _capture.drain()})
    while True:
        try:
            ftype, header, payload = read_frame()
        except EOFError:  # the server closed our stdin: end, with whatever our UDFs started
            _kill_tree()
        if ftype == b"C":
            handle_call(header)
        elif ftype == b"L":
            handle_load(header)
        elif ftype == b"P":  # echo: the transport floor for benchmarks
            send(b"R", {"id": header["id"], "logs": [], "result": {"t": "echo", "data": 0}}, [payload] if len(payload) else [], file_id=header["id"])
        else:
            send(b"E", {"id": header.get("id"), "kind": "protocol", "message": f"unknown frame type {ftype!r}", "logs": []})


if __name__ == "__main__":
    main()
