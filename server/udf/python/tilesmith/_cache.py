"""@cache: memoise a function's results on disk, shared by every worker of the server.

Results are pickled under $TILESMITH_CACHE_DIR/<function>/<key>.pkl, keyed by the function's
source code and its arguments. The server bounds the folder's size, deleting the least recently
used files (a hit sets the file's access time) when it is over its cap. An exclusive fcntl.flock per key makes one process compute
while the others wait and then read its result.
"""
import fcntl
import functools
import hashlib
import inspect
import os
import pickle
import tempfile
import time

from ._duration import parse_duration

DEFAULT_MAX_AGE = "12h"  # Fused's default for @fused.cache


def _cache_root():
    root = os.environ.get("TILESMITH_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tilesmith-py-cache")
    return os.path.abspath(root)


def _code_identity(f):
    try:
        src = inspect.getsource(f)
    except (OSError, TypeError):
        code = getattr(f, "__code__", None)
        src = repr((code.co_code, code.co_consts)) if code else repr(f)
    return f"{getattr(f, '__qualname__', f)}\n{src}".encode()


def _arg_bytes(args, kwargs):
    payload = (args, sorted(kwargs.items()))
    try:
        return pickle.dumps(payload, protocol=4)
    except Exception:  # unpicklable arguments (connections, locks…): their repr is the best we have
        return repr(payload).encode()


def _fresh(path, max_age):
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    return max_age is None or age <= max_age


def _read(path):
    with open(path, "rb") as fh:
        value = pickle.load(fh)
    try:  # mark it used for the server's least-recently-used sweep; mtime (its age) stays
        os.utime(path, ns=(time.time_ns(), os.stat(path).st_mtime_ns))
    except OSError:
        pass
    return value


def _write(path, value):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # readers never see a half-written file


_STORAGES = ("auto", "mount", "local", "object")
# Options accepted both when decorating and on each call (Fused's documented call-time options).
_CALL_OPTIONS = ("cache_max_age", "cache_reset", "cache_verbose", "cache_key_exclude", "cache_storage",
                 "cache_folder_path", "reset")


def _check_storage(value):
    if value is not None and value not in _STORAGES:
        raise ValueError(f"cache_storage={value!r}: expected one of {', '.join(_STORAGES)}")


def _key_args(sig, args, kwargs, exclude):
    """Arguments that make the key: all of them, minus the names in cache_key_exclude."""
    if not exclude:
        return args, kwargs
    if sig is not None:
        try:
            bound = sig.bind_partial(*args, **kwargs)
            return (), {k: v for k, v in bound.arguments.items() if k not in exclude}
        except TypeError:
            pass
    return args, {k: v for k, v in kwargs.items() if k not in exclude}


def cache(func=None, *, cache_max_age=DEFAULT_MAX_AGE, cache_reset=False, path=None, cache_verbose=False,
          cache_key_exclude=None, cache_storage="auto", cache_folder_path=None, reset=None, **_ignored):
    """Caches a function's return value on disk, shared by all workers.

    `@cache`, or `@cache(cache_max_age='1d', cache_reset=False, cache_key_exclude=['conn'],
    cache_verbose=True, cache_storage='auto', cache_folder_path='sub')`: results older than
    `cache_max_age` are recomputed; `cache_reset=True` always recomputes (and stores);
    arguments named in `cache_key_exclude` do not count in the key; `cache_verbose` prints
    whether each call was a hit or a miss into the UDF's log. Every `cache_*` option may also
    be passed when calling the function (`fetch(url, cache_max_age='1h')`), as in Fused, and
    applies to that call. `cache_storage` is accepted for Fused compatibility: every storage
    is the local disk cache here. `path` / `cache_folder_path` put this function's entries in
    a sub-folder of their own.
    """
    parse_duration(cache_max_age) if cache_max_age is not None else None  # fail at decoration time
    _check_storage(cache_storage)
    defaults = {
        "cache_max_age": cache_max_age,
        "cache_reset": bool(cache_reset or reset),
        "cache_verbose": bool(cache_verbose),
        "cache_key_exclude": tuple(cache_key_exclude or ()),
        "cache_folder_path": cache_folder_path or path,
    }

    def wrap(f):
        ident = _code_identity(f)
        name = getattr(f, "__qualname__", "fn")
        base_folder = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            sig = None

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            o = dict(defaults)
            for k in _CALL_OPTIONS:
                if k in kwargs and not (sig is not None and k in sig.parameters):
                    v = kwargs.pop(k)
                    if k == "reset":
                        k, v = "cache_reset", bool(v)
                    elif k == "cache_key_exclude":
                        v = tuple(v or ())
                    elif k == "cache_storage":
                        _check_storage(v)
                        continue
                    o[k] = v
            max_age = parse_duration(o["cache_max_age"]) if o["cache_max_age"] is not None else None
            kargs, kkw = _key_args(sig, args, kwargs, o["cache_key_exclude"])
            key = hashlib.sha256(ident + b"\0" + _arg_bytes(kargs, kkw)).hexdigest()[:32]
            sub = o["cache_folder_path"]
            d = os.path.join(_cache_root(), *( [str(sub).strip("/").replace("..", "_")] if sub else [base_folder]))
            os.makedirs(d, exist_ok=True)
            file = os.path.join(d, key + ".pkl")
            verbose = o["cache_verbose"]
            reset_now = o["cache_reset"]
            if not reset_now and _fresh(file, max_age):
                try:
                    value = _read(file)
                    if verbose:
                        print(f"cache hit: {name} ({key[:12]})")
                    return value
                except Exception:
                    pass  # unreadable (e.g. another Python version): recompute below
            with open(file + ".lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel even if we are killed
                try:
                    if not reset_now and _fresh(file, max_age):
                        try:
                            value = _read(file)
                            if verbose:
                                print(f"cache hit: {name} ({key[:12]})")
                            return value
                        except Exception:
                            pass
                    if verbose:
                        print(f"cache {'reset' if reset_now else 'miss'}: {name} ({key[:12]}), computing")
                    value = f(*args, **kwargs)
                    try:
                        _write(file, value)
                    except Exception as e:  # unpicklable results still return, just uncached
                        print(f"tilesmith cache: could not store the result of {f.__qualname__}: {e}")
                    return value
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

        wrapper.__tilesmith_cache__ = dict(defaults, cache_storage=cache_storage)
        return wrapper

    return wrap(func) if callable(func) else wrap
