import type { Bounds, EncodeContext, Encoder, NormalizedResult, RasterData } from '../types.ts';

/*
 * A GeoTIFF written here rather than with geotiff.js: its writer (3.0.x) stores Int8/Int16/
 * Int32 samples as zeros and converts every sample through a new DataView, which is slow for
 * 512×512×4 tiles. A single-strip, uncompressed, little-endian baseline TIFF plus three GeoTIFF
 * tags is a small, fixed layout (TIFF 6.0 §2, GeoTIFF 1.1 §7), so the pixels are copied as one
 * block and GDAL/QGIS/rasterio read every sample type.
 */

const R = 6378137; // WGS 84 / Pseudo-Mercator sphere radius
const MAX_LAT = 85.0511287798066;

const SHORT = 3;
const LONG = 4;
const DOUBLE = 12;
const ASCII = 2;
const TYPE_SIZE: Record<number, number> = { [ASCII]: 1, [SHORT]: 2, [LONG]: 4, [DOUBLE]: 8 };

/** SampleFormat (1 unsigned, 2 signed, 3 float) and bits per sample of each pixel array type. */
function sampleFormat(data: RasterData['data']): [number, number] {
  const bits = data.BYTES_PER_ELEMENT * 8;
  if (data instanceof Float32Array || data instanceof Float64Array) return [3, bits];
  if (data instanceof Int8Array || data instanceof Int16Array || data instanceof Int32Array) return [2, bits];
  return [1, bits];
}

function mercator(lon: number, lat: number): [number, number] {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return [(lon * Math.PI * R) / 180, R * Math.log(Math.tan(Math.PI / 4 + phi / 2))];
}

interface Tag {
  tag: number;
  type: number;
  values: number[] | string;
}

/**
 * The georeferencing of a raster covering `bounds`: on tile calls the pixel grid is the tile's,
 * which is regular in Web Mercator, so the file is in EPSG:3857 with the tile's bounds in
 * metres; elsewhere (file calls) in EPSG:4326 degrees. The tie point is the north-west corner
 * of the first pixel (PixelIsArea).
 */
function geoTags(bounds: Bounds, width: number, height: number, mercatorGrid: boolean): Tag[] {
  let [w, s, e, n] = bounds;
  if (mercatorGrid) {
    [w, s] = mercator(w, s);
    [e, n] = mercator(e, n);
  }
  // GeoKeyDirectory: header (version 1.1.0, key count), then keyId, location (0 = value here), count, value.
  const keys = mercatorGrid
    ? [1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 3857] // projected, PixelIsArea, EPSG:3857
    : [1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326]; // geographic, PixelIsArea, EPSG:4326
  return [
    { tag: 33550, type: DOUBLE, values: [(e - w) / width, (n - s) / height, 0] }, // ModelPixelScale
    { tag: 33922, type: DOUBLE, values: [0, 0, 0, w, n, 0] }, // ModelTiepoint
    { tag: 34735, type: SHORT, values: [1, 1, 0, keys.length / 4, ...keys] }, // GeoKeyDirectory
  ];
}

function blank(size: number): RasterData {
  return { width: size, height: size, bands: 4, data: new Uint8Array(size * size * 4) };
}

/**
 * Writes a raster as a GeoTIFF: the UDF's own sample values and type (uint8 … float64, not a
 * rendered image, so GIS tools can analyse them), pixel-interleaved, uncompressed, with the
 * georeferencing described at `geoTags`, and `GDAL_NODATA` when the raster sets `noData` (NaN
 * is GDAL's usual no-data for floats already). 3 or 4 bands of uint8 are tagged RGB(A); an
 * empty result is a transparent tile-size RGBA image.
 */
export function encodeGeoTiff(result: NormalizedResult, ctx: EncodeContext): Uint8Array {
  const raster = result.kind === 'raster' ? result.raster : result.kind === 'empty' ? blank(ctx.tileSize) : undefined;
  if (!raster) throw new Error(`tif encoder cannot encode a ${result.kind} result`);
  const { width, height, bands, data } = raster;
  const [format, bits] = sampleFormat(data);
  const bytes = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  const rgb = bytes && bands >= 3;
  const extra = rgb ? (bands === 4 ? [2] : []) : bands === 2 && bytes ? [2] : new Array(bands - 1).fill(0); // 2 = unassociated alpha
  const pixelBytes = data.byteLength;
  const bounds = raster.bounds ?? ctx.bounds ?? [-180, -MAX_LAT, 180, MAX_LAT];

  const tags: Tag[] = [
    { tag: 256, type: LONG, values: [width] },
    { tag: 257, type: LONG, values: [height] },
    { tag: 258, type: SHORT, values: new Array(bands).fill(bits) },
    { tag: 259, type: SHORT, values: [1] }, // no compression
    { tag: 262, type: SHORT, values: [rgb ? 2 : 1] }, // RGB, or min-is-black
    { tag: 273, type: LONG, values: [0] }, // StripOffsets: patched below
    { tag: 277, type: SHORT, values: [bands] },
    { tag: 278, type: LONG, values: [height] }, // one strip
    { tag: 279, type: LONG, values: [pixelBytes] },
    { tag: 284, type: SHORT, values: [1] }, // chunky (pixel-interleaved)
    ...(extra.length ? [{ tag: 338, type: SHORT, values: extra }] : []),
    { tag: 339, type: SHORT, values: new Array(bands).fill(format) },
    ...geoTags(bounds, width, height, ctx.tile !== null),
    ...(typeof raster.noData === 'number' ? [{ tag: 42113, type: ASCII, values: `${raster.noData}\0` }] : []),
  ].sort((a, b) => a.tag - b.tag);

  const ifdStart = 8;
  const ifdSize = 2 + tags.length * 12 + 4;
  // Values longer than 4 bytes live after the IFD, each at an even (here 8-byte) offset.
  let extraAt = ifdStart + ifdSize;
  const placed = tags.map((t) => {
    const size = TYPE_SIZE[t.type] * t.values.length;
    if (size <= 4) return { t, size, at: -1 };
    extraAt = Math.ceil(extraAt / 8) * 8;
    const at = extraAt;
    extraAt += size;
    return { t, size, at };
  });
  const dataAt = Math.ceil(extraAt / 8) * 8;
  const out = new Uint8Array(dataAt + pixelBytes);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49]); // "II": little-endian
  view.setUint16(2, 42, true);
  view.setUint32(4, ifdStart, true);
  view.setUint16(ifdStart, tags.length, true);

  const write = (t: Tag, at: number) => {
    if (typeof t.values === 'string') {
      for (let i = 0; i < t.values.length; i++) out[at + i] = t.values.charCodeAt(i) & 0x7f;
      return;
    }
    t.values.forEach((v, i) => {
      if (t.tag === 273) v = dataAt;
      if (t.type === SHORT) view.setUint16(at + i * 2, v, true);
      else if (t.type === LONG) view.setUint32(at + i * 4, v, true);
      else view.setFloat64(at + i * 8, v, true);
    });
  };
  placed.forEach(({ t, at }, i) => {
    const e = ifdStart + 2 + i * 12;
    view.setUint16(e, t.tag, true);
    view.setUint16(e + 2, t.type, true);
    view.setUint32(e + 4, t.values.length, true);
    if (at < 0) write(t, e + 8);
    else {
      view.setUint32(e + 8, at, true);
      write(t, at);
    }
  });
  view.setUint32(ifdStart + 2 + tags.length * 12, 0, true); // no next IFD

  // Typed arrays hold the platform's byte order; the file says little-endian.
  const src = new Uint8Array(data.buffer, data.byteOffset, pixelBytes);
  out.set(src, dataAt);
  if (BIG_ENDIAN_HOST && data.BYTES_PER_ELEMENT > 1) {
    const n = data.BYTES_PER_ELEMENT;
    for (let i = dataAt; i < out.length; i += n) out.subarray(i, i + n).reverse();
  }
  return out;
}

const BIG_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** `image/tiff; application=geotiff`: see `encodeGeoTiff`. Also answers `tiff` and `geotiff`. */
export const tiffEncoder: Encoder = {
  name: 'tif',
  aliases: ['tiff', 'geotiff'],
  extension: 'tif',
  mediaType: 'image/tiff; application=geotiff',
  accepts: ['raster', 'empty'],
  encode: encodeGeoTiff,
};
