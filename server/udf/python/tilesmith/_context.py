"""The current run's request, for `fused.context` and `fused.file_path` (set by the worker)."""


class RunContext:
    """What the server asked for in this run. `udf_name` is set while a UDF loads too; the
    request fields are None outside a call."""

    __slots__ = ("udf_name", "bounds", "tile", "tile_size", "params")

    def __init__(self):
        self.clear()

    def clear(self, udf_name=None):
        self.udf_name = udf_name
        self.bounds = None
        self.tile = None
        self.tile_size = None
        self.params = {}

    def begin(self, udf_name, header=None):
        """Called by the worker before the UDF function (or its module) runs."""
        self.clear(udf_name)
        if header:
            b = header.get("bounds")
            self.bounds = list(b) if b is not None else None
            self.tile = dict(header["tile"]) if header.get("tile") else None
            self.tile_size = int(header.get("tileSize") or 256)
            self.params = dict(header.get("params") or {})

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


current = RunContext()
