import { defineUdf } from 'tilesmith';

/** A json UDF: facts about the requested area (try /udf/tile_info/file?bounds=-10,35,5,45). */
export default defineUdf({
  description: 'Size and centre of the requested area, as JSON',
  kind: 'json',
  params: { unit: { type: 'str', default: 'km', description: 'km or mi' } },
  run: ({ bounds, tile, params }) => {
    if (!bounds) return { bounds: null, message: 'pass bounds=w,s,e,n or x,y,z' };
    const [w, s, e, n] = bounds;
    const R = params.unit === 'mi' ? 3958.8 : 6371.0;
    const rad = Math.PI / 180;
    const area = R * R * Math.abs(Math.sin(n * rad) - Math.sin(s * rad)) * Math.abs(e - w) * rad;
    return { bounds, tile, center: [(w + e) / 2, (s + n) / 2], area: Math.round(area * 100) / 100, unit: `${params.unit}²` };
  },
});
