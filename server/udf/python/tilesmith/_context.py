"""The current run's request, for `tilesmith.context()`, `fused.context` and `fused.file_path`
(set by the worker), and the status/progress reporters of `tilesmith.status()` /
`tilesmith.progress()`."""


class RunContext:
    """What the server asked for in this run. `udf_name` is set while a UDF loads too; the
    request fields are None outside a call.

    - run_id: the run's id (`GET /runs/{run_id}`), '' outside a server run
    - udf_name, bounds [w, s, e, n] or None, tile {x, y, z} or None, tile_size, params
    - format: the requested format or None; attempt: 1 for a first attempt
    - token_id: the id of the API token that started the run (never the token), or None
    - instance_id: the server instance running it
    """

    __slots__ = ("udf_name", "bounds", "tile", "tile_size", "params", "run_id", "format", "attempt", "token_id", "instance_id")

    def __init__(self):
        self.clear()

    def clear(self, udf_name=None):
        self.udf_name = udf_name
        self.bounds = None
        self.tile = None
        self.tile_size = None
        self.params = {}
        self.run_id = None
        self.format = None
        self.attempt = None
        self.token_id = None
        self.instance_id = None

    def begin(self, udf_name, header=None):
        """Called by the worker before the UDF function (or its module) runs."""
        self.clear(udf_name)
        if header:
            b = header.get("bounds")
            self.bounds = list(b) if b is not None else None
            self.tile = dict(header["tile"]) if header.get("tile") else None
            self.tile_size = int(header.get("tileSize") or 256)
            self.params = dict(header.get("params") or {})
            r = header.get("request") or {}
            self.run_id = r.get("runId") or ""
            self.format = r.get("format")
            self.attempt = int(r.get("attempt") or 1)
            self.token_id = r.get("tokenId")
            self.instance_id = r.get("instanceId") or ""

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return f"<tilesmith.context {self.as_dict()!r}>"


current = RunContext()

# Set by the worker: sends {"status": str} / {"progress": float} to the server mid-call.
_reporter = None


def set_reporter(fn):
    global _reporter
    _reporter = fn


def context():
    """This run's request info (see RunContext)."""
    return current


def status(message):
    """Reports a status line, e.g. status('25% complete'). `GET /runs/{id}` shows the last one,
    also after the run was killed or failed."""
    if _reporter is not None:
        _reporter({"status": str(message)[:1000]})


def progress(fraction):
    """Reports progress as a fraction from 0 to 1."""
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise TypeError(f"progress() takes a number from 0 to 1, got {fraction!r:.40}") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise TypeError(f"progress() takes a number from 0 to 1, got {fraction!r:.40}")
    if _reporter is not None:
        _reporter({"progress": min(1.0, max(0.0, f))})
