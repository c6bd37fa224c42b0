/**
 * Unmodified Fused-style UDF folders (test/fixtures/fused-compat) through the real server and
 * real /usr/bin/python3: fused.load by GitHub URL and by name from --udf-path, HTML results,
 * meta.json `source`, canvas notes/widgets skipped, empty results, raster return types, the
 * fused module's attributes, reserved names, and every new format read back by an
 * independent reader (GDAL, openpyxl, Python's XML parser, PIL, apache-arrow, sharp).
 */
import { cannotRun } from './helpers/skip.ts';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { tileToBounds } from '../server/tiling/bounds.ts';
import { createPythonLoader } from '../server/udf/python/loader.ts';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/fused-compat');
const ROOT = path.resolve(import.meta.dirname, '..');
const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);
const haveTools = existsSync(PYTHON) && existsSync('/usr/bin/gdalinfo');
if (!haveTools) {
  cannotRun('the Fused compatibility tests', `${PYTHON} or gdalinfo is missing (scripts/setup-system.mjs installs them)`);
}

/** Runs Python code with the file path as argv[1] and returns what it prints as JSON. */
function py(code: string, file: string): any {
  return JSON.parse(execFileSync(PYTHON, ['-c', code, file], { encoding: 'utf8' }));
}

describe.skipIf(!haveTools)('Fused compatibility (real Python, real CLI stack)', () => {
  let server: RunningServer;
  let dir: string;
  const logs: string[] = [];
  const get = (p: string) => fetch(`${server.url}${p}`);
  const save = async (p: string, name: string) => {
    const res = await get(p);
    expect(res.status, `${p}: ${res.status}`).toBe(200);
    const file = path.join(dir, name);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    return { file, type: res.headers.get('content-type') };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-fused-'));
    // Copies, so nothing (caches, __pycache__) is written into the repository.
    cpSync(FIXTURE, path.join(dir, 'f'), { recursive: true });
    server = await startServer({
      dir: path.join(dir, 'f/udfs'),
      udfPath: [path.join(dir, 'f/libs')],
      port: 0,
      host: '127.0.0.1',
      cacheDir: path.join(dir, 'cache'),
      python: PYTHON,
      pythonWorkers: 1,
      log: (m) => logs.push(m),
    });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads every UDF folder, skips the canvas note and widget without a load error, and rejects a reserved parameter name', async () => {
    const names = server.registry.list().map((u) => u.name);
    expect(names).toContain('Eiffel_Tower_Point');
    expect(names).not.toContain('Note_Node');
    expect(names).not.toContain('Widget_Node');
    expect(names).not.toContain('Old_Note');
    expect(logs.join('\n')).not.toMatch(/Note_Node|Widget_Node|Old_Note/);
    const failed = server.registry.list().filter((u) => u.loadError).map((u) => u.name);
    expect(failed).toEqual(['Reserved_Format']);
    const reserved = server.registry.get('Reserved_Format')!.loadError!.message;
    expect(reserved).toBe(
      "UDF 'Reserved_Format' failed to load: parameter 'format' uses a name the server reserves (format, dtype_out_vector, dtype_out_raster, tile_size, cache, cache_max_age, cache_reset, rescale, colormap, bounds, x, y, z, token); rename it",
    );
    expect((await get('/udf/Reserved_Format/run/file')).status).toBe(500);
  });

  it('logs the skipped canvas nodes at debug level only', async () => {
    const debug: string[] = [];
    const loader = createPythonLoader({ cacheDir: path.join(dir, 'c2'), debug: (m) => debug.push(m) });
    const udfs = path.join(dir, 'f/udfs');
    expect(['Note_Node', 'Widget_Node', 'Old_Note', 'Eiffel_Tower_Point'].map((n) => loader.match(path.join(udfs, n), true))).toEqual([null, null, null, 'Eiffel_Tower_Point']);
    expect(debug).toEqual([
      expect.stringMatching(/skipping .*Note_Node: a Fused canvas note \(nodeTemplateType textbox\), not a UDF$/),
      expect.stringMatching(/skipping .*Widget_Node: a Fused canvas widget \(nodeTemplateType json_ui\), not a UDF$/),
      expect.stringMatching(/skipping .*Old_Note: Old_Note\.py defines no function/),
    ]);
    await loader.close();
  });

  it('fused.load by GitHub tree URL at import time: the module\'s functions, next to the UDF\'s own utils', async () => {
    const res = await get('/udf/Common_User/run/file?bounds=0,0,1,1&n=2');
    expect(res.status).toBe(200);
    const fc = (await res.json()) as any;
    expect(fc.features.map((f: any) => f.properties)).toEqual([
      { i: 0, label: 'point-0', greeting: 'hello url', lazy: 'common-utils' },
      { i: 1, label: 'point-1', greeting: 'hello url', lazy: 'common-utils' },
    ]);
    expect(fc.features[0].geometry.coordinates[0]).toBeCloseTo(1 / 3);
  });

  it('fused.load by name finds public/common on --udf-path: .utils, fused.utils.<Name>, fused.run, @fused.cache call-time options', async () => {
    const body = (await (await get('/udf/By_Name/run/file?who=ada')).json()) as any;
    expect(body).toEqual({
      greet: 'hello ada',
      utils: 'common-utils',
      fused_utils: 'common-utils',
      run: { hello: 'ada', helper: 'common-utils' },
      run_by_name: { hello: 'again', helper: 'common-utils' },
      square: 49,
    });
  });

  it('serves HTML documents and fastapi HTMLResponse as text/html; html/excel/xml also encode tables', async () => {
    let res = await get('/udf/Html_Doc/run/file?title=Tiles%20%26%20more');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain("<h1 id='t'>Tiles & more</h1>");
    res = await get('/udf/Html_Response/run/file?msg=hey');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toBe("<div id='msg'>hey</div>");
    res = await get('/udf/Html_Response/run/file?msg=yo&kind=response');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toBe('<p>yo</p>');
    res = await get('/udf/Html_Response/run/file?msg=yo&kind=json');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ msg: 'yo' });
    res = await get('/udf/Html_Response/run/file?kind=binary');
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).message).toMatch(/Response with media type application\/octet-stream; tilesmith serves Responses of text\/html/);
    res = await get('/udf/Html_Doc/file.html');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await get('/udf/Html_Doc/file.csv')).status).toBe(406);
    res = await get('/udf/Html_Doc/style.json');
    expect(res.status).toBe(406);
    expect(((await res.json()) as any).message).toMatch(/returns html, which has no map layer.*file\.html/);
    res = await get('/udf/Table_Out/run/file?dtype_out_vector=html');
    const page = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page).toContain('<td>p&lt;1&gt;&amp;</td><td>1.5</td><td>1</td><td>POINT (1 0.5)</td>');
  });

  it('meta.json source names the entry file (Eiffel_Tower_Point/eiffel_tower_point.py) and its parameters', async () => {
    const fc = (await (await get('/udf/Eiffel_Tower_Point/run/file')).json()) as any;
    expect(fc.features[0].properties).toEqual({ name: 'Eiffel' });
    expect(fc.features[0].geometry.coordinates).toEqual([2.2945, 48.8584]);
  });

  it('empty GeoDataFrame (no CRS), empty DataFrame and None: 204 on tiles, an empty collection as a file', async () => {
    for (const name of ['Empty_Gdf', 'Empty_Df', 'None_Result']) {
      const res = await get(`/udf/${name}/run/tiles/3/4/2`);
      expect(res.status, name).toBe(204);
    }
    const fc = (await (await get('/udf/Empty_Gdf/run/file')).json()) as any;
    expect(fc).toEqual({ type: 'FeatureCollection', features: [] });
  });

  it('raster returns: PNG bytes, JPEG BytesIO, a PIL image and an xarray DataArray', async () => {
    const pixels = async (p: string) => {
      const res = await get(p);
      expect(res.status, p).toBe(200);
      return sharp(Buffer.from(await res.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    };
    const at = (img: { data: Buffer; info: { width: number } }, x: number, y: number) => [...img.data.subarray((y * img.info.width + x) * 4, (y * img.info.width + x) * 4 + 4)];
    const bytes = await pixels('/udf/Raster_Bytes/run/tiles/1/1/1.png');
    expect(at(bytes, 10, 10)).toEqual([255, 0, 0, 255]);
    expect(at(bytes, 10, 200)).toEqual([0, 0, 255, 255]);
    const jpeg = await pixels('/udf/Raster_Bytesio/run/tiles/1/1/1.png');
    const [r, g, b] = at(jpeg, 100, 100);
    expect(r).toBeLessThan(10);
    expect(g).toBeGreaterThan(190);
    expect(b).toBeLessThan(10);
    const pil = await pixels('/udf/Raster_Pil/run/tiles/1/1/1.png');
    expect(at(pil, 10, 10)[3]).toBe(0);
    expect(at(pil, 200, 10)).toEqual([10, 20, 30, 255]);
    const xr = await pixels('/udf/Raster_Xarray/run/file.png');
    expect(xr.info.width).toBe(10);
    expect(at(xr, 0, 0)[0]).toBe(0);
    expect(at(xr, 9, 5)[0]).toBe(180);
  });

  it('xarray DataArray bounds come from its lat/lon coordinates (GeoTIFF read by GDAL)', async () => {
    const { file } = await save('/udf/Raster_Xarray/run/file?format=tif', 'xr.tif');
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8' }));
    expect(info.coordinateSystem.wkt).toMatch(/ID\["EPSG",4326\]\]$/);
    expect(info.cornerCoordinates.upperLeft).toEqual([0, 50]);
    expect(info.cornerCoordinates.lowerRight).toEqual([10, 40]);
  });

  it('tif on a tile: a GeoTIFF in EPSG:3857 with the tile\'s bounds and the raw float values (gdalinfo)', async () => {
    const { file, type } = await save('/udf/Raster_Float/run/tiles/2/1/1.tif', 'tile.tif');
    expect(type).toBe('image/tiff; application=geotiff');
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', file], { encoding: 'utf8' }));
    expect(info.coordinateSystem.wkt).toMatch(/"WGS 84 \/ Pseudo-Mercator"/);
    expect(info.coordinateSystem.wkt).toMatch(/ID\["EPSG",3857\]\]$/);
    expect(info.size).toEqual([64, 32]);
    const half = 20037508.342789244;
    const step = half / 2; // tile width at z2 in metres
    const [ulx, uly] = info.cornerCoordinates.upperLeft;
    const [lrx, lry] = info.cornerCoordinates.lowerRight;
    expect(ulx).toBeCloseTo(-half + step, 3);
    expect(uly).toBeCloseTo(half - step, 3);
    expect(lrx).toBeCloseTo(-half + 2 * step, 3);
    expect(lry).toBeCloseTo(0, 3);
    // WGS84 corners GDAL computes match the tile's bounds.
    const [w, s, e, n] = tileToBounds({ z: 2, x: 1, y: 1 });
    expect(info.wgs84Extent.coordinates[0][0][0]).toBeCloseTo(w, 6);
    expect(info.wgs84Extent.coordinates[0][0][1]).toBeCloseTo(n, 6);
    expect(info.wgs84Extent.coordinates[0][2][0]).toBeCloseTo(e, 6);
    expect(info.wgs84Extent.coordinates[0][2][1]).toBeCloseTo(s, 6);
    expect(info.bands[0].type).toBe('Float32');
    expect(info.bands[0].maximum).toBeCloseTo((64 * 32 - 1) / 10, 3);
  });

  it('tif on a file call: EPSG:4326 with the requested bounds (gdalinfo)', async () => {
    const { file } = await save('/udf/Raster_Float/run/file?format=tiff&bounds=0,0,10,5', 'file.tif');
    const info = JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8' }));
    expect(info.coordinateSystem.wkt).toMatch(/ID\["EPSG",4326\]\]$/);
    expect(info.cornerCoordinates.upperLeft).toEqual([0, 5]);
    expect(info.cornerCoordinates.lowerRight).toEqual([10, 0]);
    expect(info.geoTransform[1]).toBeCloseTo(10 / 64, 12);
  });

  it('gif tiles read back by PIL', async () => {
    const { file, type } = await save('/udf/Raster_Pil/run/tiles/1/1/1.gif', 'a.gif');
    expect(type).toBe('image/gif');
    const got = py(
      'import sys, json; from PIL import Image; im = Image.open(sys.argv[1]); c = im.convert("RGBA"); print(json.dumps([im.format, im.size, c.getpixel((10, 10))[3], c.getpixel((200, 10))]))',
      file,
    );
    expect(got).toEqual(['GIF', [256, 256], 0, [10, 20, 30, 255]]);
  });

  it('feather is an Arrow IPC file (apache-arrow reader; ARROW1 magic at both ends)', async () => {
    const { file, type } = await save('/udf/Table_Out/run/file?format=feather', 't.feather');
    expect(type).toBe('application/vnd.apache.arrow.file');
    const buf = readFileSync(file);
    expect(buf.subarray(0, 6).toString()).toBe('ARROW1');
    expect(buf.subarray(buf.length - 6).toString()).toBe('ARROW1');
    const t = tableFromIPC(buf);
    expect(t.numRows).toBe(3);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['name', 'value', 'count', 'geometry']);
    expect(t.get(2)!.toJSON().name).toBe('p<2>&');
    expect(t.get(2)!.toJSON().value).toBe(3);
  });

  it('excel is an xlsx openpyxl reads, with typed cells and WKT geometry', async () => {
    const { file, type } = await save('/udf/Table_Out/run/file?dtype_out_vector=excel', 't.xlsx');
    expect(type).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const rows = py(
      'import sys, json, warnings; warnings.simplefilter("ignore"); import openpyxl; ws = openpyxl.load_workbook(sys.argv[1]).active; print(json.dumps([ws.title, [[c.value for c in r] for r in ws.iter_rows()]]))',
      file,
    );
    expect(rows).toEqual([
      'Table_Out',
      [
        ['name', 'value', 'count', 'geometry'],
        ['p<0>&', 0, 0, 'POINT (0 0)'],
        ['p<1>&', 1.5, 1, 'POINT (1 0.5)'],
        ['p<2>&', 3, 2, 'POINT (2 1)'],
      ],
    ]);
  });

  it('xml parses with Python\'s XML parser into pandas.to_xml\'s layout', async () => {
    const { file, type } = await save('/udf/Table_Out/run/file?format=xml', 't.xml');
    expect(type).toBe('application/xml');
    const rows = py(
      'import sys, json; import xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); print(json.dumps([r.tag, [{c.tag: c.text for c in row} for row in r]]))',
      file,
    );
    expect(rows[0]).toBe('data');
    expect(rows[1][1]).toEqual({ index: '1', name: 'p<1>&', value: '1.5', count: '1', geometry: 'POINT (1 0.5)' });
  });

  it('the fused module: file_path, context, _optional_deps, mercantile fallback, and NotImplementedError naming missing APIs', async () => {
    const body = (await (await get('/udf/Fused_Attrs/run/file?bounds=1,2,3,4&who=me')).json()) as any;
    expect(body.file_path).toBe(path.join(dir, 'cache/py/files/Fused_Attrs/out/data.txt'));
    expect(body.data_dir_exists).toBe(true);
    expect(body.context).toEqual({ udf_name: 'Fused_Attrs', bounds: [1, 2, 3, 4], tile: null, params: { who: 'me' }, realtime: true });
    expect(body.deps).toEqual({ geopandas: true, mercantile: true, gdf_class: 'GeoDataFrame' });
    expect(body.some_cloud_thing).toMatch(/^fused\.some_cloud_thing is a Fused cloud API that tilesmith does not provide/);
    expect(body.secrets).toMatch(/^fused\.secrets\['key'\] is a Fused cloud API/);
    const h3 = execFileSync(PYTHON, ['-c', 'import importlib.util; print(importlib.util.find_spec("h3") is not None)'], { encoding: 'utf8' }).trim();
    if (h3 === 'True') expect(body.h3).toBe('available');
    else expect(body.h3).toMatch(/^fused\.h3 needs the h3 package/);
    expect(body.mercantile_tile).toEqual([16592, 11272, 15]);
  });

  it('legacy x, y, z arguments receive the tile', async () => {
    const body = await (await get('/udf/Legacy_Xyz/run/tiles/3/4/5.json')).json();
    expect(body).toEqual({ x: 4, y: 5, z: 3, extra: 1 });
  });
});

describe.skipIf(!haveTools)('@fused.cache options (in the real interpreter)', () => {
  it('cache_key_exclude, cache_reset, cache_max_age and cache_verbose at decoration and call time', () => {
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'tilesmith-fcache-'));
    try {
      const script = `
import json, time, fused
calls = []

@fused.cache(cache_key_exclude=["conn"])
def fetch(url, conn=None):
    calls.append(url)
    return {"url": url, "n": len(calls)}

out = []
out.append(fetch("a", conn=object()))
out.append(fetch("a", conn=object(), cache_verbose=True))       # hit: conn not in the key
out.append(fetch("a", cache_reset=True))                         # recomputed
out.append(fetch("b", cache_storage="local", cache_folder_path="sub"))
time.sleep(1.1)
out.append(fetch("a", cache_max_age="1s"))                       # too old for this call
out.append(fetch("a", cache_max_age="1h"))                       # fresh enough
try:
    fetch("a", cache_storage="s4")
    out.append("accepted")
except ValueError as e:
    out.append(str(e))

@fused.cache
def takes_option(cache_max_age):                                 # its own parameter: passed through
    return cache_max_age

out.append(takes_option(cache_max_age=5))
print(json.dumps({"out": out, "calls": calls}))
`;
      const res = execFileSync(PYTHON, ['-c', script], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: path.join(ROOT, 'server/udf/python'), TILESMITH_CACHE_DIR: cacheDir },
      });
      const lines = res.trim().split('\n');
      const { out, calls } = JSON.parse(lines.at(-1)!);
      expect(lines.some((l) => /^cache hit: fetch/.test(l))).toBe(true);
      expect(out.slice(0, 6).map((o: any) => o.n)).toEqual([1, 1, 2, 3, 4, 4]);
      expect(calls).toEqual(['a', 'a', 'b', 'a']);
      expect(out[6]).toBe("cache_storage='s4': expected one of auto, mount, local, object");
      expect(out[7]).toBe(5);
      expect(existsSync(path.join(cacheDir, 'sub'))).toBe(true);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveTools)('tilesmith doctor', () => {
  it('lists per UDF the modules the interpreter cannot import with their Debian/pip names, exit 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-doctor-'));
    try {
      const udfs = path.join(dir, 'udfs');
      cpSync(path.join(FIXTURE, 'udfs/Note_Node'), path.join(udfs, 'Note_Node'), { recursive: true });
      cpSync(path.join(FIXTURE, 'udfs/Table_Out'), path.join(udfs, 'Table_Out'), { recursive: true });
      mkdirSync(path.join(udfs, 'Needs_Stuff'), { recursive: true });
      writeFileSync(
        path.join(udfs, 'Needs_Stuff/Needs_Stuff.py'),
        'import os, json\nimport mercantile\nfrom utils import helper\nimport tilesmith_no_such_module_xyz.sub\n@fused.udf\ndef udf():\n    import duckdb\n    return 1\n',
      );
      writeFileSync(path.join(udfs, 'Needs_Stuff/utils.py'), 'def helper():\n    return 1\n');
      const cli = path.join(ROOT, 'bin/tilesmith.js');
      const err = await run(process.execPath, [cli, 'doctor', udfs, '--python', PYTHON]).then(
        () => null,
        (e) => e,
      );
      expect(err?.code).toBe(1);
      const out: string = err.stdout;
      expect(out).toContain('ok       Table_Out');
      expect(out).not.toContain('Note_Node');
      expect(out).toContain('MISSING  Needs_Stuff');
      expect(out).toContain('tilesmith_no_such_module_xyz: pip: tilesmith-no-such-module-xyz (guessed from the module name)');
      const duck = execFileSync(PYTHON, ['-c', 'import importlib.util; print(importlib.util.find_spec("duckdb") is not None)'], { encoding: 'utf8' }).trim();
      if (duck === 'False') expect(out).toContain('duckdb: pip: duckdb');
      expect(out).not.toMatch(/^\s+(os|json|utils|mercantile):/m);
      expect(out).toContain('1 of 2 UDFs import modules this Python cannot import.');
      // A folder whose imports are all there: exit 0.
      const ok = await run(process.execPath, [cli, 'doctor', path.join(FIXTURE, 'udfs'), '--python', PYTHON]);
      expect(ok.stdout).toMatch(/All \d+ Python UDFs' imports are available\./);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
