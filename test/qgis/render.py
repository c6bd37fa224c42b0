"""Loads tilesmith layers into headless QGIS and renders them to PNG.

Usage: python3 render.py SPEC.json   (prints one JSON result object on stdout)

SPEC: {"out": dir, "xml": [{"file": path, "type": "xyz"|"vectortile"}],
       "layers": [{"name": str, "kind": "raster"|"vector", "uri": str}]}

Run with QT_QPA_PLATFORM=offscreen and HOME pointing at a scratch folder (QGIS writes a
profile there). Never call layer.error().summary(): it segfaults in PyQGIS 3.22.
"""
import json
import os
import sys
from urllib.parse import quote

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRectangle,
    QgsSettings,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

BACKGROUND = (255, 255, 255)
WORLD_3857 = QgsRectangle(-20037508.34, -20037508.34, 20037508.34, 20037508.34)


def import_connections(entries):
    """Imports "Load Connections" files with QGIS's own importer and returns what it stored."""
    from qgis.gui import QgsManageConnectionsDialog as Dialog

    stored = {}
    for entry in entries:
        kind = Dialog.XyzTiles if entry["type"] == "xyz" else Dialog.VectorTile
        dialog = Dialog(None, Dialog.Import, kind, entry["file"])
        dialog.selectAll()
        dialog.doExportImport()
    settings = QgsSettings()
    for key in settings.allKeys():
        for prefix, kind in (("qgis/connections-xyz/", "xyz"), ("qgis/connections-vector-tile/", "vectortile")):
            if key.startswith(prefix):
                name, field = key[len(prefix):].rsplit("/", 1)
                stored.setdefault(kind, {}).setdefault(name, {})[field] = settings.value(key)
    return stored


def render(layer, path):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(WORLD_3857)
    settings.setOutputSize(QSize(512, 512))
    settings.setBackgroundColor(QColor(*BACKGROUND))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(path, "PNG")
    errors = [f"{e.layerID}: {e.message}" for e in job.errors()]
    drawn = 0
    colours = {}
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            rgb = (c.red(), c.green(), c.blue())
            if rgb != BACKGROUND:
                drawn += 1
                key = "#%02x%02x%02x" % rgb
                colours[key] = colours.get(key, 0) + 1
    top = sorted(colours.items(), key=lambda kv: -kv[1])[:8]
    return {"errors": errors, "drawn_fraction": drawn / ((image.width() // 2) * (image.height() // 2)), "top_colours": top}


def main():
    spec = json.load(open(sys.argv[1]))
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], True)
    app.initQgis()
    connections = import_connections(spec.get("xml", []))
    result = {"connections": connections, "layers": {}}
    layers = list(spec["layers"])
    # Layers from the imported connections, with the URI QGIS's browser builds from them.
    for name, c in connections.get("xyz", {}).items():
        uri = "type=xyz&url=%s&zmin=%s&zmax=%s" % (quote(c["url"], safe=""), c["zmin"], c["zmax"])
        if c.get("tilePixelRatio") not in (None, "0"):
            uri += "&tilePixelRatio=" + c["tilePixelRatio"]
        layers.append({"name": "xml-" + name.replace(" ", "-"), "kind": "raster", "uri": uri})
    for name, c in connections.get("vectortile", {}).items():
        uri = "type=xyz&url=%s&zmin=%s&zmax=%s&styleUrl=%s" % (quote(c["url"], safe=""), c["zmin"], c["zmax"], quote(c["styleUrl"], safe=""))
        layers.append({"name": "xml-" + name.replace(" ", "-"), "kind": "vector", "uri": uri})
    for entry in layers:
        if entry["kind"] == "raster":
            layer = QgsRasterLayer(entry["uri"], entry["name"], "wms")
            style_ok = None
        else:
            layer = QgsVectorTileLayer(entry["uri"], entry["name"])
            style_ok = layer.loadDefaultStyle()[1] if layer.isValid() else False
        info = {"valid": layer.isValid(), "style_loaded": style_ok, "provider": layer.providerType()}
        if layer.isValid():
            info.update(render(layer, os.path.join(spec["out"], entry["name"] + ".png")))
        result["layers"][entry["name"]] = info
    print(json.dumps(result))
    sys.stdout.flush()
    # exitQgis() can crash at teardown in 3.22 after network use; the result is already out.
    os._exit(0)


if __name__ == "__main__":
    main()
