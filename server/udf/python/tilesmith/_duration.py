"""'500ms' / '30s' / '10m' / '1h' / '90d' / seconds -> seconds: the server's one duration grammar
(server/params/duration.ts), so a Python UDF's durations read as its TypeScript twin's."""
import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX = 10 * 365 * 86400


def parse_duration(value, what="cache_max_age"):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= _MAX:
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(value), re.I)
    seconds = float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()] if m else None
    if seconds is None or seconds > _MAX:
        raise ValueError(
            f"invalid {what} {value!r}: expected a number of seconds or a number followed by ms, s, m, h or d "
            "(e.g. 500ms, 30s, 30m, 1h, 90d), at most 10 years"
        )
    return seconds
