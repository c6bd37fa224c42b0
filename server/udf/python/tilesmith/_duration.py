"""'30s' / '10m' / '1h' / '90d' / seconds -> seconds, as the server parses them."""
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value, what="cache_max_age"):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value), re.I)
    if not m:
        raise ValueError(f"invalid {what} {value!r}: expected a number followed by s, m, h or d (e.g. 30m, 1h, 90d)")
    return float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
