# An unmodified-Fused-style UDF folder: Fused_Buildings.py + utils.py + meta.json.
# Runs on tilesmith as the UDF "Fused_Buildings"; parameter defaults come from meta.json.
import fused


@fused.udf
def udf(bbox: fused.types.TileGDF = None, min_height: float = 0.0, max_buildings: int = 50):
    from utils import footprints, height_class

    x, y, z = bbox[["x", "y", "z"]].iloc[0]
    gdf = footprints(bbox.total_bounds.tolist(), x, y, z, max_buildings)
    gdf = gdf[gdf["height"] >= min_height]
    gdf["class"] = gdf["height"].map(height_class)
    print(f"tile {z}/{x}/{y}: {len(gdf)} buildings taller than {min_height} m")
    return gdf
