"""Add a tilesmith UDF to QGIS as a map layer.

In the QGIS Python console (Plugins > Python Console):

    exec(open('/path/to/load_udf.py').read())
    load_udf('http://localhost:8787', 'points', n=500)          # vector tiles, styled by style.json
    load_udf('http://localhost:8787', 'mandelbrot', iterations=128, colormap='viridis')  # XYZ raster

Headless, e.g. in CI (renders the layer to a PNG):

    QT_QPA_PLATFORM=offscreen python3 load_udf.py http://localhost:8787 points n=500 --png points.png

Raster UDFs become XYZ layers (provider 'wms'); vector UDFs become vector tile layers with the
server's /udf/{name}/style.json applied. QGIS sends no custom headers, so a token is passed
as ?token= in the URLs.
"""
import json
import sys
import urllib.parse
import urllib.request


def _encode_value(value):
    """Serialises a parameter as the tilesmith server parses it (same rules as tilesmith/client)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        flat = all(isinstance(v, (str, int, float)) and not (isinstance(v, str) and "," in v) for v in value)
        return ",".join(str(v) for v in value) if flat else json.dumps(list(value), separators=(",", ":"))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query(params):
    parts = ["%s=%s" % (urllib.parse.quote(str(k), safe=","), urllib.parse.quote(_encode_value(v), safe=",")) for k, v in params.items() if v is not None]
    return "&".join(parts)


def udf_kind(server, name):
    """'vector' or 'raster', from the server's catalog (GET /udfs) or, failing that, its TileJSON."""
    server = server.rstrip("/")
    with urllib.request.urlopen(server + "/udfs", timeout=30) as res:
        for entry in json.load(res):
            if entry.get("name") == name:
                if entry.get("error"):
                    raise RuntimeError("UDF %r failed to load on the server: %s" % (name, entry["error"]))
                if entry.get("kind") in ("vector", "raster"):
                    return entry["kind"]
                if entry.get("kind") in ("json", "table"):
                    raise RuntimeError("UDF %r returns %s, which QGIS cannot show as a tile layer" % (name, entry["kind"]))
                break
        else:
            raise RuntimeError("no UDF named %r on %s" % (name, server))
    with urllib.request.urlopen("%s/udf/%s/tilejson.json" % (server, urllib.parse.quote(name)), timeout=60) as res:
        return "vector" if json.load(res).get("vector_layers") else "raster"


def udf_uri(server, name, kind, params=None, token=None, tile_size=256):
    """The QGIS data-source URI: the tile template percent-encoded, as QGIS requires."""
    server = server.rstrip("/")
    params = dict(params or {})
    base = "%s/udf/%s" % (server, urllib.parse.quote(name))
    extra = {"token": token} if token else {}
    if kind == "raster":
        query = _query({"format": "png", **({"tile_size": 512} if tile_size == 512 else {}), **params, **extra})
        template = "%s/tiles/{z}/{x}/{y}?%s" % (base, query)
        uri = "type=xyz&url=%s&zmin=0&zmax=18" % urllib.parse.quote(template, safe="")
        return uri + ("&tilePixelRatio=2" if tile_size == 512 else "")
    template = "%s/tiles/{z}/{x}/{y}?%s" % (base, _query({"format": "mvt", **params, **extra}))
    style_query = _query({**params, **extra})
    style = "%s/style.json%s" % (base, "?" + style_query if style_query else "")
    return "type=xyz&url=%s&zmin=0&zmax=14&styleUrl=%s" % (urllib.parse.quote(template, safe=""), urllib.parse.quote(style, safe=""))


def load_udf(server, name, token=None, tile_size=256, kind=None, add_to_project=True, **params):
    """Creates the layer for UDF `name` on `server` with `params`, adds it to the project, returns it."""
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorTileLayer

    kind = kind or udf_kind(server, name)
    uri = udf_uri(server, name, kind, params, token, tile_size)
    if kind == "raster":
        layer = QgsRasterLayer(uri, name, "wms")
    else:
        layer = QgsVectorTileLayer(uri, name)
        if layer.isValid():
            layer.loadDefaultStyle()  # fetches styleUrl (the UDF's style.json)
    # Don't call layer.error().summary() here: it segfaults in PyQGIS 3.22.
    if not layer.isValid():
        raise RuntimeError("QGIS could not open %s (uri: %s)" % (name, uri))
    if add_to_project:
        QgsProject.instance().addMapLayer(layer)
    return layer


def _render(layer, path, size=512):
    from qgis.core import QgsCoordinateReferenceSystem, QgsMapRendererParallelJob, QgsMapSettings, QgsRectangle
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(QgsRectangle(-20037508.34, -20037508.34, 20037508.34, 20037508.34))
    settings.setOutputSize(QSize(size, size))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(path, "PNG")
    return [e.message for e in job.errors()]


def _main(argv):
    import os

    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    server, name, rest = argv[0], argv[1], argv[2:]
    png = None
    token = None
    params = {}
    i = 0
    while i < len(rest):
        if rest[i] == "--png":
            png, i = rest[i + 1], i + 2
            continue
        if rest[i] == "--token":
            token, i = rest[i + 1], i + 2
            continue
        key, _, value = rest[i].partition("=")
        params[key] = value
        i += 1

    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    layer = load_udf(server, name, token=token, **params)
    out = {"name": name, "valid": layer.isValid(), "provider": layer.providerType(), "uri": layer.source()}
    if png:
        out["errors"] = _render(layer, png)
        out["png"] = png
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)  # skip exitQgis(): it can crash at teardown in QGIS 3.22


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
