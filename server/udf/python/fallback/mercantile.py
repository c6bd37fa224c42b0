"""Web-Mercator tile math with mercantile's API, for workers whose Python lacks mercantile.

Debian 12 does not package mercantile and many Fused UDFs (and Fused's `common` utilities)
import it. tilesmith puts this folder at the END of the workers' sys.path, so the real package
wins whenever it is installed. Written for tilesmith after mercantile's documented behaviour
(https://mercantile.readthedocs.io): the same names, argument forms (`bounds(tile)` or
`bounds(x, y, z)`), namedtuples, edge cases (antimeridian-crossing boxes in `tiles`, latitude
clamping at ±85.051129°, `parent` of a zoom-0 tile is None) and exceptions.
"""
import math
import warnings
from collections import namedtuple
from collections.abc import Sequence

__version__ = "1.2.1+tilesmith"

__all__ = [
    "Bbox", "LngLat", "LngLatBbox", "Tile", "bounding_tile", "bounds", "children", "feature",
    "lnglat", "neighbors", "parent", "quadkey", "quadkey_to_tile", "simplify", "tile", "tiles",
    "ul", "xy", "xy_bounds", "minmax",
]

R2D = 180 / math.pi
RE = 6378137.0
CE = 2 * math.pi * RE
EPSILON = 1e-14
LL_EPSILON = 1e-11

Tile = namedtuple("Tile", ["x", "y", "z"])
Tile.__doc__ = "An XYZ web mercator tile: x, y, z (zoom)."
LngLat = namedtuple("LngLat", ["lng", "lat"])
LngLatBbox = namedtuple("LngLatBbox", ["west", "south", "east", "north"])
Bbox = namedtuple("Bbox", ["left", "bottom", "right", "top"])


class MercantileError(Exception):
    """Base exception."""


class InvalidLatitudeError(MercantileError):
    """Raised when math errors occur beyond ~85 degrees N or S."""


class InvalidZoomError(MercantileError):
    """Raised when a zoom level is invalid."""


class ParentTileError(MercantileError):
    """Raised when a parent tile cannot be determined."""


class QuadKeyError(MercantileError):
    """Raised when errors occur in computing or parsing quad keys."""


class TileArgParsingError(MercantileError):
    """Raised when errors occur in parsing a function's tile arg(s)."""


class TileError(MercantileError):
    """Raised when a tile can't be determined."""


def _parse_tile_arg(*args):
    if len(args) == 1:
        args = args[0]
    if len(args) == 3:
        return Tile(*args)
    raise TileArgParsingError("the tile argument may have 1 or 3 values. Note that zoom is a keyword-only argument")


def truncate_lnglat(lng, lat):
    lng = min(max(lng, -180.0), 180.0)
    lat = min(max(lat, -90.0), 90.0)
    return lng, lat


def ul(*tile):
    """The upper-left corner of a tile as LngLat."""
    x, y, z = _parse_tile_arg(*tile)
    z2 = 2 ** z
    lon_deg = x / z2 * 360.0 - 180.0
    lat_rad = math.atan(math.sinh(math.pi * (1 - 2 * y / z2)))
    return LngLat(lon_deg, math.degrees(lat_rad))


def bounds(*tile):
    """A tile's bounds as LngLatBbox(west, south, east, north) in degrees."""
    x, y, z = _parse_tile_arg(*tile)
    z2 = 2 ** z
    west = x / z2 * 360.0 - 180.0
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / z2))))
    east = (x + 1) / z2 * 360.0 - 180.0
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / z2))))
    return LngLatBbox(west, south, east, north)


def truncate_lnglat_pair(lng, lat):  # pragma: no cover - kept for callers of old versions
    return truncate_lnglat(lng, lat)


def xy(lng, lat, truncate=False):
    """Longitude and latitude in degrees to Web Mercator x, y in metres (±inf at the poles)."""
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    x = RE * math.radians(lng)
    if lat <= -90:
        y = float("-inf")
    elif lat >= 90:
        y = float("inf")
    else:
        y = RE * math.log(math.tan((math.pi * 0.25) + (0.5 * math.radians(lat))))
    return x, y


def lnglat(x, y, truncate=False):
    """Web Mercator x, y in metres to LngLat in degrees."""
    lng, lat = (x * R2D / RE, ((math.pi * 0.5) - 2.0 * math.atan(math.exp(-y / RE))) * R2D)
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    return LngLat(lng, lat)


def neighbors(*tile, **kwargs):
    """The tiles around a tile at the same zoom (up to 8; none beyond the world's edges)."""
    t = _parse_tile_arg(*tile)
    xtile, ytile, ztile = t
    out = []
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            if i == 0 and j == 0:
                continue
            if xtile + i < 0 or ytile + j < 0 or xtile + i > 2 ** ztile - 1 or ytile + j > 2 ** ztile - 1:
                continue
            out.append(Tile(x=xtile + i, y=ytile + j, z=ztile))
    return out


def xy_bounds(*tile):
    """A tile's bounds in Web Mercator metres as Bbox(left, bottom, right, top)."""
    x, y, z = _parse_tile_arg(*tile)
    tile_size = CE / 2 ** z
    left = x * tile_size - CE / 2
    right = left + tile_size
    top = CE / 2 - y * tile_size
    bottom = top - tile_size
    return Bbox(left, bottom, right, top)


def _xy(lng, lat, truncate=False):
    if truncate:
        lng, lat = truncate_lnglat(lng, lat)
    x = lng / 360.0 + 0.5
    sinlat = math.sin(math.radians(lat))
    try:
        y = 0.5 - 0.25 * math.log((1.0 + sinlat) / (1.0 - sinlat)) / math.pi
    except (ValueError, ZeroDivisionError):
        raise InvalidLatitudeError(f"Y can not be computed: lat={lat!r}")
    return x, y


def tile(lng, lat, zoom, truncate=False):
    """The tile containing a longitude and latitude at a zoom."""
    xtile, ytile = _xy(lng, lat, truncate=truncate)
    z2 = 2 ** zoom
    if xtile <= 0:
        xtile = 0
    elif xtile >= 1:
        xtile = int(z2 - 1)
    else:
        xtile = int(math.floor((xtile + EPSILON) * z2))
    if ytile <= 0:
        ytile = 0
    elif ytile >= 1:
        ytile = int(z2 - 1)
    else:
        ytile = int(math.floor((ytile + EPSILON) * z2))
    return Tile(xtile, ytile, zoom)


def quadkey(*tile):
    """A tile's quadkey string."""
    xtile, ytile, zoom = _parse_tile_arg(*tile)
    qk = []
    for z in range(zoom, 0, -1):
        digit = 0
        mask = 1 << (z - 1)
        if xtile & mask:
            digit += 1
        if ytile & mask:
            digit += 2
        qk.append(str(digit))
    return "".join(qk)


def quadkey_to_tile(qk):
    """The tile of a quadkey string."""
    if len(qk) == 0:
        return Tile(0, 0, 0)
    xtile, ytile = 0, 0
    for i, digit in enumerate(reversed(qk)):
        mask = 1 << i
        if digit == "1":
            xtile = xtile | mask
        elif digit == "2":
            ytile = ytile | mask
        elif digit == "3":
            xtile = xtile | mask
            ytile = ytile | mask
        elif digit != "0":
            raise QuadKeyError(f"Unexpected quadkey digit: {digit!r}")
    return Tile(xtile, ytile, i + 1)


def tiles(west, south, east, north, zooms, truncate=False):
    """The tiles intersecting a box at one zoom or a list of zooms (a generator). A box whose
    west is east of its east crosses the antimeridian and is split in two."""
    if truncate:
        west, south = truncate_lnglat(west, south)
        east, north = truncate_lnglat(east, north)
    if west > east:
        bboxes = [(-180.0, south, east, north), (west, south, 180.0, north)]
    else:
        bboxes = [(west, south, east, north)]
    if not isinstance(zooms, Sequence):
        zooms = [zooms]
    for w, s, e, n in bboxes:
        w = max(-180.0, w)
        s = max(-85.051129, s)
        e = min(180.0, e)
        n = min(85.051129, n)
        for z in zooms:
            ul_tile = tile(w, n, z)
            lr_tile = tile(e - LL_EPSILON, s + LL_EPSILON, z)
            for i in range(ul_tile.x, lr_tile.x + 1):
                for j in range(ul_tile.y, lr_tile.y + 1):
                    yield Tile(i, j, z)


def parent(*tile, **kwargs):
    """The parent tile (one zoom up, or at `zoom=`); None for a zoom-0 tile."""
    t = _parse_tile_arg(*tile)
    zoom = kwargs.get("zoom", None)
    if zoom is not None and (t[2] < zoom or zoom != int(zoom)):
        raise InvalidZoomError("zoom must be an integer and less than that of the input tile")
    x, y, z = t
    if x != int(x) or y != int(y) or z != int(z):
        raise ParentTileError("the parent of a non-integer tile is undefined")
    if z == 0:
        return None
    target_zoom = z - 1 if zoom is None else zoom
    res = None
    while t[2] > target_zoom:
        xtile, ytile, ztile = t
        if xtile % 2 == 0 and ytile % 2 == 0:
            res = Tile(xtile // 2, ytile // 2, ztile - 1)
        elif xtile % 2 == 0:
            res = Tile(xtile // 2, (ytile - 1) // 2, ztile - 1)
        elif not xtile % 2 == 0 and ytile % 2 == 0:
            res = Tile((xtile - 1) // 2, ytile // 2, ztile - 1)
        else:
            res = Tile((xtile - 1) // 2, (ytile - 1) // 2, ztile - 1)
        t = res
    return res


def children(*tile, **kwargs):
    """The four children (or all descendants at `zoom=`), starting with the upper-left one
    and going clockwise."""
    t = _parse_tile_arg(*tile)
    zoom = kwargs.get("zoom", None)
    xtile, ytile, ztile = t
    if zoom is not None and (ztile > zoom or zoom != int(zoom)):
        raise InvalidZoomError("zoom must be an integer and greater than that of the input tile")
    target_zoom = zoom if zoom is not None else ztile + 1
    out = [t]
    while out[0][2] < target_zoom:
        nxt = []
        for xt, yt, zt in out:
            nxt += [Tile(xt * 2, yt * 2, zt + 1), Tile(xt * 2 + 1, yt * 2, zt + 1),
                    Tile(xt * 2 + 1, yt * 2 + 1, zt + 1), Tile(xt * 2, yt * 2 + 1, zt + 1)]
        out = nxt
    return out


def simplify(tiles):
    """Replaces complete sets of four children with their parent, repeatedly."""
    def merge(merge_set):
        upwards = {}
        changed = False
        for t in merge_set:
            p = parent(t)
            if p is None:
                continue
            upwards.setdefault(p, set()).add(t)
        current = set()
        for p, kids in upwards.items():
            if len(kids) == 4:
                current.add(p)
                changed = True
            else:
                current |= kids
        return current, changed

    root_set = set()
    for t in sorted(set(tiles), key=lambda t: t[2]):
        x, y, z = t
        is_new = True
        for i in range(z):
            scale = 2 ** (z - i)
            if Tile(x // scale, y // scale, i) in root_set:
                is_new = False
                break
        if is_new:
            root_set.add(Tile(*t))
    while True:
        root_set, changed = merge(root_set)
        if not changed:
            break
    return list(root_set)


def _getBboxZoom(*bbox):
    max_zoom = 28
    for z in range(0, max_zoom):
        mask = 1 << (32 - (z + 1))
        if (bbox[0] & mask) != (bbox[2] & mask) or (bbox[1] & mask) != (bbox[3] & mask):
            return z
    return max_zoom


def bounding_tile(*bbox, **kwds):
    """The smallest tile containing a box (or a point)."""
    if len(bbox) == 2:
        bbox += bbox
    w, s, e, n = bbox
    truncate = bool(kwds.get("truncate"))
    if truncate:
        w, s = truncate_lnglat(w, s)
        e, n = truncate_lnglat(e, n)
    e = e - LL_EPSILON
    s = s + LL_EPSILON
    try:
        tmin = tile(w, n, 32)
        tmax = tile(e, s, 32)
    except InvalidLatitudeError:
        return Tile(0, 0, 0)
    cell = tmin[:2] + tmax[:2]
    z = _getBboxZoom(*cell)
    if z == 0:
        return Tile(0, 0, 0)
    x = cell[0] >> (32 - z)
    y = cell[1] >> (32 - z)
    return Tile(x, y, z)


def _coords(obj):
    if isinstance(obj, (tuple, list)):
        coordinates = obj
    elif "features" in obj:
        coordinates = [feat["geometry"]["coordinates"] for feat in obj["features"]]
    elif "geometry" in obj:
        coordinates = obj["geometry"]["coordinates"]
    else:
        coordinates = obj.get("coordinates", obj)
    for e in coordinates:
        if isinstance(e, (float, int)):
            yield tuple(coordinates)
            break
        for f in _coords(e):
            yield f


def geojson_bounds(obj):
    """The LngLatBbox of a GeoJSON object's coordinates."""
    w, s, e, n = 180.0, 90.0, -180.0, -90.0
    for lng, lat, *_ in _coords(obj):
        w, s, e, n = min(w, lng), min(s, lat), max(e, lng), max(n, lat)
    return LngLatBbox(w, s, e, n)


def feature(tile, fid=None, props=None, projected="geographic", buffer=None, precision=None):
    """A tile's footprint as a GeoJSON Feature (geographic or mercator coordinates)."""
    west, south, east, north = bounds(tile)
    if projected == "mercator":
        west, south = xy(west, south, truncate=False)
        east, north = xy(east, north, truncate=False)
    if buffer:
        west, south, east, north = west - buffer, south - buffer, east + buffer, north + buffer
    if precision and precision >= 0:
        west, south, east, north = (round(v, precision) for v in (west, south, east, north))
    bbox = [min(west, east), min(south, north), max(west, east), max(south, north)]
    geom = {"type": "Polygon", "coordinates": [[[west, south], [west, north], [east, north], [east, south], [west, south]]]}
    xyz = str(tuple(tile)).replace(" ", "")
    feat = {"type": "Feature", "bbox": bbox, "id": xyz, "geometry": geom, "properties": {"title": f"XYZ tile {xyz}"}}
    if props:
        feat["properties"].update(props)
    if fid is not None:
        feat["id"] = fid
    return feat


def minmax(zoom):
    """The minimum and maximum tile index at a zoom."""
    if not isinstance(zoom, int) or zoom < 0:
        raise InvalidZoomError(f"zoom must be a positive integer, got {zoom!r}")
    return 0, 2 ** zoom - 1


def valid(*tile):
    """True when x and y are within the zoom's range."""
    x, y, z = _parse_tile_arg(*tile)
    return 0 <= x <= 2 ** z - 1 and 0 <= y <= 2 ** z - 1
