/**
 * The formats added for Fused parity (feather, html, excel, xml, gif, tif), each read back by a
 * reader independent of its writer: apache-arrow's IPC reader, Python's ElementTree and
 * openpyxl, PIL, GDAL's gdalinfo. (test/fused-compat.test.ts covers them through the server.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import type { EncodeContext, NormalizedResult } from '../types.ts';
import { excelEncoder } from './excel.ts';
import { featherEncoder } from './feather.ts';
import { gifEncoder } from './gif.ts';
import { htmlEncoder } from './html.ts';
import { readWkb } from './test-utils.ts';
import { tiffEncoder } from './tiff.ts';
import { xmlEncoder, xmlName } from './xml.ts';
import { cannotRun } from '../../test/helpers/skip.ts';

const PYTHON = '/usr/bin/python3';
const HAVE = existsSync(PYTHON) && existsSync('/usr/bin/gdalinfo');
const dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (over: Partial<EncodeContext> = {}): EncodeContext => ({
  udfName: 'places',
  tile: null,
  bounds: [0, 0, 10, 5],
  tileSize: 256,
  layerName: 'places',
  extent: 4096,
  buffer: 64,
  ...over,
});

const vector: NormalizedResult = {
  kind: 'vector',
  features: [
    { type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { name: 'a<b>&"c"', n: 1, ok: true, tags: ['x'] } },
    { type: 'Feature', geometry: null, properties: { name: null, n: 2.5, ok: false, '3d': 'x' } },
  ],
};

function file(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function py(code: string, arg: string): any {
  return JSON.parse(execFileSync(PYTHON, ['-c', `import sys, json, warnings\nwarnings.simplefilter("ignore")\n${code}`, arg], { encoding: 'utf8' }));
}

describe('feather', () => {
  it('is an Arrow IPC file with typed columns and a geoarrow.wkb geometry', () => {
    const bytes = featherEncoder.encode(vector, ctx()) as Uint8Array;
    expect(Buffer.from(bytes.subarray(0, 6)).toString()).toBe('ARROW1');
    const t = tableFromIPC(bytes);
    expect(t.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(['name:Utf8', 'n:Float64', 'ok:Bool', 'tags:Utf8', '3d:Utf8', 'geometry:Binary']);
    expect(t.schema.fields[5].metadata.get('ARROW:extension:name')).toBe('geoarrow.wkb');
    expect(readWkb(t.getChild('geometry')!.get(0)!)).toEqual({ type: 'Point', coordinates: [1, 2] });
    expect(t.getChild('geometry')!.get(1)).toBeNull();
    expect(t.getChild('tags')!.get(0)).toBe('["x"]');
  });
});

describe('html', () => {
  it('passes HTML and string results through, escapes tables and JSON', () => {
    const dec = (r: NormalizedResult) => new TextDecoder().decode(htmlEncoder.encode(r, ctx()) as Uint8Array);
    expect(dec({ kind: 'html', html: '<b>x</b>' })).toBe('<b>x</b>');
    expect(dec({ kind: 'json', value: '<p>page</p>' })).toBe('<p>page</p>');
    expect(dec({ kind: 'json', value: { a: '<x>' } })).toContain('<pre>{&quot;a&quot;:&quot;&lt;x&gt;&quot;}</pre>');
    const page = dec(vector);
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<title>places</title>');
    expect(page).toContain('<th>name</th><th>n</th><th>ok</th><th>tags</th><th>3d</th><th>geometry</th>');
    expect(page).toContain('<td>a&lt;b&gt;&amp;&quot;c&quot;</td><td>1</td><td>true</td>');
    expect(page).toContain('<td>POINT (1 2)</td>');
  });
});

if (!HAVE) cannotRun('the new formats\' Python and GDAL readers', `${PYTHON} or /usr/bin/gdalinfo is missing (scripts/setup-system.mjs installs them)`);

describe.skipIf(!HAVE)('readers in Python and GDAL', () => {
  it('xml parses with ElementTree in pandas.to_xml layout, with safe element names', () => {
    expect(xmlName('3d')).toBe('_3d');
    expect(xmlName('xmlish')).toBe('_xmlish');
    expect(xmlName('a b/c')).toBe('a_b_c');
    const p = file('v.xml', xmlEncoder.encode(vector, ctx()) as Uint8Array);
    const rows = py('import xml.etree.ElementTree as ET\nr = ET.parse(sys.argv[1]).getroot()\nprint(json.dumps([r.tag, [[[c.tag, c.text] for c in row] for row in r]]))', p);
    expect(rows).toEqual([
      'data',
      [
        [['index', '0'], ['name', 'a<b>&"c"'], ['n', '1'], ['ok', 'true'], ['tags', '["x"]'], ['_3d', null], ['geometry', 'POINT (1 2)']],
        [['index', '1'], ['name', null], ['n', '2.5'], ['ok', 'false'], ['tags', null], ['_3d', 'x'], ['geometry', null]],
      ],
    ]);
  });

  it('excel opens in openpyxl with typed cells', async () => {
    const p = file('v.xlsx', await excelEncoder.encode(vector, ctx()));
    const got = py('import openpyxl\nws = openpyxl.load_workbook(sys.argv[1]).active\nprint(json.dumps([ws.title, [[c.value for c in r] for r in ws.iter_rows()], ws["A1"].font.b]))', p);
    expect(got).toEqual([
      'places',
      [
        ['name', 'n', 'ok', 'tags', '3d', 'geometry'],
        ['a<b>&"c"', 1, true, '["x"]', null, 'POINT (1 2)'],
        [null, 2.5, false, null, 'x', null],
      ],
      true,
    ]);
  });

  it('gif opens in PIL with transparency for NaN pixels', async () => {
    const data = new Float32Array(16 * 16).fill(5);
    data[0] = NaN;
    const r: NormalizedResult = { kind: 'raster', raster: { width: 16, height: 16, bands: 1, data } };
    const p = file('r.gif', await gifEncoder.encode(r, ctx({ rescale: [0, 10] })));
    const got = py('from PIL import Image\nim = Image.open(sys.argv[1]); c = im.convert("RGBA")\nprint(json.dumps([im.format, im.size, c.getpixel((0, 0))[3], c.getpixel((5, 5))]))', p);
    expect(got[0]).toBe('GIF');
    expect(got[1]).toEqual([16, 16]);
    expect(got[2]).toBe(0);
    expect(got[3][3]).toBe(255);
    expect(Math.abs(got[3][0] - 128)).toBeLessThanOrEqual(2);
  });

  it('tif: RGBA uint8 tagged RGB with alpha, GDAL_NODATA for noData, transparent tile for empty', () => {
    const rgba = new Uint8Array(8 * 4 * 4);
    for (let i = 0; i < rgba.length; i += 4) rgba.set([200, 100, 50, 255], i);
    const p = file('rgba.tif', tiffEncoder.encode({ kind: 'raster', raster: { width: 8, height: 4, bands: 4, data: rgba } }, ctx()) as Uint8Array);
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', p], { encoding: 'utf8' }));
    expect(info.bands.map((b: any) => b.colorInterpretation)).toEqual(['Red', 'Green', 'Blue', 'Alpha']);
    expect(info.bands.map((b: any) => b.maximum)).toEqual([200, 100, 50, 255]);
    expect(info.cornerCoordinates.upperLeft).toEqual([0, 5]);

    const ints = new Int16Array([1, -9999, 3, 4]);
    const q = file('nd.tif', tiffEncoder.encode({ kind: 'raster', raster: { width: 2, height: 2, bands: 1, data: ints, noData: -9999 } }, ctx()) as Uint8Array);
    const nd = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', q], { encoding: 'utf8' }));
    expect(nd.bands[0].type).toBe('Int16');
    expect(nd.bands[0].noDataValue).toBe(-9999);
    expect(nd.bands[0].minimum).toBe(1);

    const e = file('empty.tif', tiffEncoder.encode({ kind: 'empty' }, ctx({ tile: { z: 1, x: 0, y: 0 }, bounds: [-180, 0, 0, 85.0511287798066] })) as Uint8Array);
    const ei = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', e], { encoding: 'utf8' }));
    expect(ei.size).toEqual([256, 256]);
    expect(ei.coordinateSystem.wkt).toMatch(/ID\["EPSG",3857\]\]$/);
    expect(ei.cornerCoordinates.upperLeft[0]).toBeCloseTo(-20037508.342789244, 3);
    expect(ei.bands[3].maximum).toBe(0);
  });
});
