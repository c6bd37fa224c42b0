"""Return values Fused accepts that the worker's encoder does not know, turned into ones it
does: HTML responses, images (bytes, BytesIO, PIL), xarray DataArrays, and empty frames.

`adapt(value)` returns the value to encode: a numpy array or an `(array, bounds)` tuple for
images and DataArrays, None for empty (Geo)DataFrames, an `Html` for HTML, or `value` itself.
"""
import io
import sys


class Html(str):
    """An HTML document to serve as text/html."""


class UnsupportedResult(Exception):
    """The value looks like a Fused result tilesmith cannot serve; the message says why."""


_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIF = (b"GIF87a", b"GIF89a")
_TIFF = (b"II*\x00", b"MM\x00*")


def _image_bytes(data):
    return data.startswith(_PNG) or data.startswith(_JPEG) or data.startswith(_GIF) or data[:4] in _TIFF or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _decode_image(data):
    try:
        from PIL import Image
    except ImportError:
        raise UnsupportedResult("the UDF returned image bytes; decoding them needs Pillow, which this Python cannot "
                                "import (Debian: python3-pil, pip: pillow)") from None
    return _pil_to_array(Image.open(io.BytesIO(data)))


def _pil_to_array(img):
    import numpy as np

    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("L" if img.mode == "1" else "RGB")
    elif img.mode == "I;16":
        return np.asarray(img, dtype=np.uint16)
    return np.asarray(img)  # height x width (x bands): bands-last, as the worker expects for images


def _dataarray(da):
    """A DataArray as (array, bounds): bounds from rioxarray's CRS-aware accessor when it is
    EPSG:4326, else from x/y (or lon/lat) coordinates that look like degrees; else the request's."""
    import numpy as np

    arr = np.asarray(da.values)
    bounds = None
    rio = None
    try:
        rio = da.rio  # rioxarray registers this accessor when imported
    except Exception:
        rio = None
    if rio is not None:
        try:
            crs = rio.crs
            if crs is not None and crs.to_epsg() == 4326:
                bounds = [float(v) for v in rio.bounds()]
        except Exception:
            bounds = None
    if bounds is None:
        xs = next((da.coords[n] for n in ("x", "lon", "longitude") if n in da.coords), None)
        ys = next((da.coords[n] for n in ("y", "lat", "latitude") if n in da.coords), None)
        if xs is not None and ys is not None and xs.ndim == 1 and ys.ndim == 1 and len(xs) > 1 and len(ys) > 1:
            x = np.asarray(xs, dtype=float)
            y = np.asarray(ys, dtype=float)
            dx = abs(x[1] - x[0])
            dy = abs(y[1] - y[0])
            w, e = x.min() - dx / 2, x.max() + dx / 2
            s, n = y.min() - dy / 2, y.max() + dy / 2
            if -180.0001 <= w <= e <= 180.0001 and -90.0001 <= s <= n <= 90.0001:
                bounds = [float(w), float(s), float(e), float(n)]
                if y[0] < y[-1]:  # south-up rows: the image starts at the north
                    arr = arr[..., ::-1, :]
    return (arr, bounds) if bounds is not None else arr


def _response(value):
    """fastapi / starlette Response: HTML as HTML, images decoded, JSON parsed, else refused."""
    media = (getattr(value, "media_type", None) or "").split(";")[0].strip().lower()
    body = getattr(value, "body", b"")
    if isinstance(body, memoryview):
        body = body.tobytes()
    if media in ("text/html", "application/xhtml+xml") or (not media and type(value).__name__ == "HTMLResponse"):
        return Html(body.decode(getattr(value, "charset", None) or "utf-8", "replace"))
    if media.startswith("image/") and _image_bytes(body):
        return _decode_image(body)
    if media in ("application/json", "application/geo+json"):
        import json

        return json.loads(body or b"null")
    if media.startswith("text/"):
        return body.decode(getattr(value, "charset", None) or "utf-8", "replace")
    raise UnsupportedResult(f"the UDF returned a {type(value).__name__} with media type {media or 'none'}; tilesmith "
                            "serves Responses of text/html, text/*, application/json and PNG/JPEG/GIF/WebP/TIFF images")


def adapt(value):
    if value is None:
        return None
    t = type(value)
    mod = t.__module__.split(".")[0]
    if mod in ("starlette", "fastapi") and hasattr(value, "body"):
        return _response(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if _image_bytes(data):
            return _decode_image(data)
        raise UnsupportedResult("the UDF returned bytes that are not a PNG, JPEG, GIF, WebP or TIFF image")
    if isinstance(value, io.BytesIO):
        data = value.getvalue()
        if _image_bytes(data):
            return _decode_image(data)
        raise UnsupportedResult("the UDF returned a BytesIO that does not hold a PNG, JPEG, GIF, WebP or TIFF image")
    if mod == "PIL" and hasattr(value, "mode") and hasattr(value, "size"):
        return _pil_to_array(value)
    if mod == "xarray":
        if t.__name__ == "DataArray":
            return _dataarray(value)
        if t.__name__ == "Dataset":
            names = list(value.data_vars)
            if len(names) == 1:
                return _dataarray(value[names[0]])
            raise UnsupportedResult(f"the UDF returned an xarray Dataset with {len(names)} variables; return one "
                                    "DataArray (e.g. ds['band']) to serve it as a raster")
    if isinstance(value, tuple) and len(value) == 2 and type(value[0]).__module__.split(".")[0] in ("xarray", "PIL"):
        inner = adapt(value[0])
        return (inner[0] if isinstance(inner, tuple) else inner, value[1])
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame) and len(value) == 0:
        return None  # an empty (Geo)DataFrame, even gpd.GeoDataFrame() without geometry or CRS
    return value
