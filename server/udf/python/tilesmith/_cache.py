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


def cache(func=None, *, cache_max_age=DEFAULT_MAX_AGE, cache_reset=False, path=None, **_ignored):
    """Caches a function's return value on disk, shared by all workers.

    `@cache`, or `@cache(cache_max_age='1d', cache_reset=False)`: results older than
    `cache_max_age` are recomputed; `cache_reset=True` always recomputes (and stores).
    `path` puts this function's entries in a sub-folder of its own.
    """
    max_age = parse_duration(cache_max_age) if cache_max_age is not None else None

    def wrap(f):
        ident = _code_identity(f)
        folder = path or "".join(c if c.isalnum() or c in "-_" else "_" for c in getattr(f, "__qualname__", "fn"))

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            key = hashlib.sha256(ident + b"\0" + _arg_bytes(args, kwargs)).hexdigest()[:32]
            d = os.path.join(_cache_root(), folder)
            os.makedirs(d, exist_ok=True)
            file = os.path.join(d, key + ".pkl")
            if not cache_reset and _fresh(file, max_age):
                try:
                    return _read(file)
                except Exception:
                    pass  # unreadable (e.g. another Python version): recompute below
            with open(file + ".lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel even if we are killed
                try:
                    if not cache_reset and _fresh(file, max_age):
                        try:
                            return _read(file)
                        except Exception:
                            pass
                    value = f(*args, **kwargs)
                    try:
                        _write(file, value)
                    except Exception as e:  # unpicklable results still return, just uncached
                        print(f"tilesmith cache: could not store the result of {f.__qualname__}: {e}")
                    return value
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

        wrapper.__tilesmith_cache__ = {"cache_max_age": cache_max_age, "cache_reset": cache_reset}
        return wrapper

    return wrap(func) if callable(func) else wrap
