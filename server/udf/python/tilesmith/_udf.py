"""The @udf decorator: marks the function the server serves and records its options."""
from ._duration import parse_duration

# decorator keyword -> UdfOptions key (see server/types.ts)
_OPTIONS = {
    "cache_max_age": "cacheMaxAge",
    "timeout": "timeout",
    "rescale": "rescale",
    "colormap": "colormap",
    "kind": "kind",
    "minzoom": "minzoom",
    "maxzoom": "maxzoom",
    "bounds": "bounds",
    "extent": "extent",
    "buffer": "buffer",
    "description": "description",
    "attribution": "attribution",
    "public": "public",
}
_KINDS = ("vector", "raster", "json", "table")


def _options(kwargs, strict):
    opts = {}
    for k, v in kwargs.items():
        if v is None:
            continue
        key = _OPTIONS.get(k)
        if key is None:
            if strict:
                raise TypeError(f"@udf() got an unknown option {k!r}; known options: {', '.join(_OPTIONS)}")
            continue
        if k in ("cache_max_age", "timeout"):
            parse_duration(v, k)  # fail at load time, not on the first request
        if k == "kind" and v not in _KINDS:
            raise ValueError(f"@udf(kind=...) must be one of {', '.join(_KINDS)}, got {v!r}")
        if k == "public" and not isinstance(v, bool):
            raise TypeError(f"@udf(public=...) must be True or False, got {v!r}")
        if k in ("rescale", "bounds"):
            v = [float(x) for x in v]
        opts[key] = v
    return opts


def make_udf_decorator(strict):
    def udf(fn=None, **kwargs):
        default_parameters = kwargs.pop("default_parameters", None)
        opts = _options(kwargs, strict)

        def mark(f):
            f.__tilesmith_udf__ = {"options": opts, "default_parameters": default_parameters}
            return f

        return mark(fn) if callable(fn) else mark

    return udf


udf = make_udf_decorator(strict=True)
udf.__doc__ = """Marks the function a tilesmith server serves. Use bare (`@udf`) or with options:
`@udf(cache_max_age='1h', timeout='30s', rescale=(0, 100), colormap='viridis', kind='raster')`.
The function is returned unchanged, so it can still be called directly."""
