"""A local stand-in for the `fused` package, so unmodified Fused UDFs run on tilesmith.

Supported: `@fused.udf` / `@fused.udf(cache_max_age=...)`, `@fused.cache` (cache_max_age,
cache_reset), `fused.types.Bounds` / `Tile` / `TileGDF` / `ViewportGDF`, and `fused.run(fn, ...)`
on a local function. Fused's cloud APIs raise NotImplementedError naming what is missing.
"""
from tilesmith import cache  # noqa: F401
from tilesmith._udf import make_udf_decorator

from . import types  # noqa: F401

# Fused accepts options tilesmith has no use for (instance_type, region, headers…): ignored.
udf = make_udf_decorator(strict=False)


def _unsupported(api, what, hint=""):
    msg = f"{api} is a Fused cloud API that tilesmith does not provide: {what}"
    return NotImplementedError(msg + (f" {hint}" if hint else ""))


def run(udf=None, *args, **kwargs):
    """Calls a local UDF function directly; running UDFs by name, token or URL needs Fused's cloud."""
    if callable(udf):
        kwargs.pop("engine", None)
        kwargs.pop("sync", None)
        return udf(*args, **kwargs)
    raise _unsupported("fused.run", f"it runs saved UDFs ({udf!r}) on Fused's servers.",
                       "Put the code in this UDF's utils.py, or call the function directly.")


def load(url_or_udf=None, *args, **kwargs):
    raise _unsupported("fused.load", f"it downloads UDFs ({url_or_udf!r}) from GitHub or Fused's catalog.",
                       "Copy the code you need into this UDF's folder (utils.py) and import it.")


def submit(*args, **kwargs):
    raise _unsupported("fused.submit", "it runs batch jobs on Fused's servers.")


def download(*args, **kwargs):
    raise _unsupported("fused.download", "it downloads files through Fused's servers.",
                       "Download with requests/urllib inside @fused.cache instead.")


def ingest(*args, **kwargs):
    raise _unsupported("fused.ingest", "it partitions data sets on Fused's servers.")


def get_chunks_metadata(*args, **kwargs):
    raise _unsupported("fused.get_chunks_metadata", "it reads Fused-ingested tables on Fused's servers.")


def get_chunk_from_table(*args, **kwargs):
    raise _unsupported("fused.get_chunk_from_table", "it reads Fused-ingested tables on Fused's servers.")


class _CloudNamespace:
    """`fused.api`, `fused.utils`, `fused.secrets`: every use names the cloud API it needed."""

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


api = _CloudNamespace("fused.api", "it talks to Fused's servers (accounts, files, jobs).")
utils = _CloudNamespace(
    "fused.utils",
    "it loads other UDFs' utils modules (such as fused.utils.common) from Fused's servers.",
    "Copy the functions you need into this UDF's utils.py and `from utils import ...` them.",
)
secrets = _CloudNamespace("fused.secrets", "secrets are stored in Fused's cloud.",
                          "Pass them as environment variables in the UDF's tilesmith config (env) and read os.environ.")
options = _CloudNamespace("fused.options", "they configure the Fused client and its cloud connection.")
core = _CloudNamespace("fused.core", "it reads data through Fused's servers.")
