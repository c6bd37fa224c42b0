"""A local stand-in for the `fused` package, so unmodified Fused UDFs run on tilesmith.

Works locally: `@fused.udf`, `@fused.cache` (every documented option, at decoration or call
time), `fused.types.*`, `fused.load` (UDF folders on the UDF path: by name, GitHub tree URL or
path), `fused.run` (a function, a loaded UDF or a UDF name), `fused.utils.<Name>` (that UDF's
utils), `fused.file_path`, `fused.download` (to a per-UDF folder), `fused.context` (this run's
request), `fused._optional_deps`, and `fused.h3` when the h3 package is importable. Fused's
cloud APIs raise NotImplementedError naming the API; so does any other attribute, so a UDF
learns what is missing instead of reading `AttributeError: module 'fused' has no attribute`.
"""
import os
import re

from tilesmith import cache  # noqa: F401
from tilesmith._context import current as _current
from tilesmith._udf import make_udf_decorator

from . import _optional_deps  # noqa: F401
from . import types  # noqa: F401
from ._load import LoadedUdf, UdfNotFound  # noqa: F401
from ._load import load as _load_local

# Fused accepts options tilesmith has no use for (instance_type, region, headers…): ignored.
udf = make_udf_decorator(strict=False)

# Options of fused.run / fused.load that only mean something on Fused's servers.
_CLOUD_RUN_OPTIONS = ("engine", "sync", "instance_type", "max_retry", "type", "cache", "cache_max_age",
                      "disk_size_gb", "verbose", "_return_response", "_ignore_unknown_arguments", "x", "y", "z",
                      "import_globals", "cache_key", "region", "parameters")


def _unsupported(api, what, hint=""):
    msg = f"{api} is a Fused cloud API that tilesmith does not provide: {what}"
    return NotImplementedError(msg + (f" {hint}" if hint else ""))


def load(url_or_udf=None, *args, **kwargs):
    """Loads a UDF kept on disk (see fused/_load.py): `fused.load("Name")`,
    `fused.load("https://github.com/fusedio/udfs/tree/<commit>/public/common/")` or a path.
    Fused's options (cache_key, import_globals, cache_verbose…) are accepted and ignored."""
    if isinstance(url_or_udf, LoadedUdf):
        return url_or_udf
    if isinstance(url_or_udf, str) and re.match(r"^fs?[a-z]?_[0-9A-Za-z]{10,}$", url_or_udf):
        raise _unsupported("fused.load", f"{url_or_udf!r} is a Fused share token, resolved by Fused's servers.",
                           "Copy that UDF's folder onto the UDF path and load it by name.")
    return _load_local(url_or_udf)


def _accepts(fn, name):
    import inspect

    fn = getattr(fn, "_func", fn) if isinstance(fn, LoadedUdf) else fn
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def run(udf=None, *args, **kwargs):
    """Runs a UDF in this process: a function, what fused.load returned, or a UDF name / URL /
    path (loaded first). `bounds=` and the UDF's parameters pass through; options that choose
    Fused's servers (engine, sync, instance_type…) are ignored."""
    if udf is None:
        udf = kwargs.pop("udf", None) or kwargs.pop("token", None)
    tile = {k: kwargs.get(k) for k in ("x", "y", "z")}
    for k in _CLOUD_RUN_OPTIONS:
        if k == "parameters" and isinstance(kwargs.get(k), dict):
            kwargs.update(kwargs.pop(k))
        else:
            kwargs.pop(k, None)
    if isinstance(udf, str):
        udf = load(udf)
    if all(v is not None for v in tile.values()) and "bounds" not in kwargs and _accepts(udf, "bounds"):
        import mercantile  # the real package or tilesmith's fallback

        kwargs["bounds"] = list(mercantile.bounds(int(tile["x"]), int(tile["y"]), int(tile["z"])))
    if callable(udf):
        return udf(*args, **kwargs)
    raise _unsupported("fused.run", f"it runs saved UDFs ({udf!r}) on Fused's servers.",
                       "Pass a function, a UDF loaded with fused.load, or the name of a UDF folder on the UDF path.")


def _udf_folder():
    name = _current.udf_name or "_shared"
    root = os.environ.get("TILESMITH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tilesmith-py")
    return os.path.join(os.path.abspath(root), "files", re.sub(r"[^\w.-]", "_", name))


def file_path(file_path="", mkdir=True):
    """A path in this UDF's own data folder (`<cache dir>/py/files/<UDF name>/…`), as Fused's
    `fused.file_path` gives one on its mount. With `mkdir`, the folder (or, for a path with a
    file extension, its parent) is created."""
    base = _udf_folder()
    rel = os.path.normpath(str(file_path).strip("/")) if file_path else ""
    if rel.startswith(".."):
        raise ValueError(f"fused.file_path({file_path!r}): the path must stay inside the UDF's data folder")
    p = os.path.join(base, rel) if rel and rel != "." else base
    if mkdir:
        os.makedirs(os.path.dirname(p) if os.path.splitext(p)[1] else p, exist_ok=True)
    return p


def download(url, file_path=None, *args, **kwargs):
    """Downloads `url` once into this UDF's data folder (see `file_path`) and returns the local
    path; later calls return the file already there. Local paths and file:// URLs are copied."""
    import shutil
    import urllib.parse
    import urllib.request

    name = file_path or os.path.basename(urllib.parse.urlparse(str(url)).path) or "download"
    dest = globals()["file_path"](name)
    if os.path.exists(dest):
        return dest
    tmp = f"{dest}.{os.getpid()}.part"
    src = str(url)
    if os.path.exists(src):
        shutil.copyfile(src, tmp)
    else:
        with urllib.request.urlopen(src, timeout=120) as r, open(tmp, "wb") as out:  # noqa: S310 — the UDF chose the URL
            shutil.copyfileobj(r, out)
    os.replace(tmp, dest)
    return dest


class _Context:
    """`fused.context`: this run's request (`udf_name`, `bounds`, `tile` {x, y, z} or None,
    `tile_size`, `params`, `run_id`, `format`, `attempt`, `token_id`, `instance_id`, as
    `tilesmith.context()`), plus Fused's `in_realtime()` / `in_batch()`. Other Fused context
    helpers (user e-mail, …) name the cloud API they need."""

    def __getattr__(self, attr):
        if attr in _current.__slots__:
            return getattr(_current, attr)
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise _unsupported(f"fused.context.{attr}", "it reads the Fused account and job running the UDF.")

    @staticmethod
    def in_realtime():
        return True

    @staticmethod
    def in_batch():
        return False

    def as_dict(self):
        return _current.as_dict()

    def __repr__(self):
        return f"<fused.context {_current.as_dict()!r}>"


context = _Context()


def submit(*args, **kwargs):
    raise _unsupported("fused.submit", "it runs batch jobs on Fused's servers.",
                       "Loop over the inputs with fused.run in this UDF instead.")


def ingest(*args, **kwargs):
    raise _unsupported("fused.ingest", "it partitions data sets on Fused's servers.")


def get_chunks_metadata(*args, **kwargs):
    raise _unsupported("fused.get_chunks_metadata", "it reads Fused-ingested tables on Fused's servers.")


def get_chunk_from_table(*args, **kwargs):
    raise _unsupported("fused.get_chunk_from_table", "it reads Fused-ingested tables on Fused's servers.")


class _CloudNamespace:
    """`fused.api`, `fused.secrets`, …: every use names the cloud API it needed."""

    def __init__(self, name, what, hint=""):
        self._name, self._what, self._hint = name, what, hint

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise _unsupported(f"{self._name}.{attr}", self._what, self._hint)

    def __getitem__(self, key):
        raise _unsupported(f"{self._name}[{key!r}]", self._what, self._hint)

    def __call__(self, *args, **kwargs):
        raise _unsupported(self._name, self._what, self._hint)


class _Utils:
    """`fused.utils.<Name>`: the utils of the UDF folder `Name` on the UDF path (Fused loads
    them from its catalog: `fused.utils.common.foo()`)."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        try:
            return load(attr).utils
        except UdfNotFound as e:
            raise NotImplementedError(
                f"fused.utils.{attr}: Fused loads these utils from its catalog; tilesmith looks for a UDF folder "
                f"named {attr!r} on the UDF path and found none ({e})") from None


utils = _Utils()
api = _CloudNamespace("fused.api", "it talks to Fused's servers (accounts, files, jobs).")
secrets = _CloudNamespace("fused.secrets", "secrets are stored in Fused's cloud.",
                          "Pass them as environment variables in the UDF's tilesmith config (env) and read os.environ.")
options = _CloudNamespace("fused.options", "they configure the Fused client and its cloud connection.")
core = _CloudNamespace("fused.core", "it reads data through Fused's servers.")


def __getattr__(name):
    """Attributes Fused has and tilesmith does not: `fused.h3` is the h3 package when it is
    importable; anything else raises NotImplementedError naming the API."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name == "h3":
        try:
            import h3 as _h3
        except ImportError:
            raise NotImplementedError(
                "fused.h3 needs the h3 package, which this Python cannot import: install it "
                "(pip install h3) in the interpreter tilesmith uses (see `tilesmith doctor`)") from None
        return _h3
    raise _unsupported(f"fused.{name}", "it is not available outside Fused's platform.")
