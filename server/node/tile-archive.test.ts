import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PMTiles, type Source } from 'pmtiles';
import { afterAll, describe, expect, it } from 'vitest';
import { ExportStaging, writePmtiles } from './tile-archive.ts';

const dir = mkdtempSync(join(tmpdir(), 'tilesmith-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function source(path: string): Source {
  const buf = readFileSync(path);
  return { getKey: () => path, getBytes: async (o: number, l: number) => ({ data: buf.buffer.slice(buf.byteOffset + o, buf.byteOffset + o + l) as ArrayBuffer }) };
}

describe('writePmtiles', () => {
  it('splits a large directory into leaves, dedupes identical tiles, and the pmtiles reader finds every tile', async () => {
    const staging = new ExportStaging(join(dir, 'big.partial'));
    const tiles: Array<[number, number, number, Buffer]> = [];
    // z8: 256×128 = 32,768 tiles, too many entries for a 16 KiB root directory.
    for (let x = 0; x < 256; x++) {
      for (let y = 0; y < 128; y++) {
        // Every 4th tile is a repeat of one shared "ocean" tile; the rest are distinct.
        const data = (x + y) % 4 === 0 ? Buffer.from('ocean') : Buffer.from(`tile ${x}/${y}`);
        tiles.push([8, x, y, data]);
      }
    }
    staging.db.transaction(() => {
      for (const [z, x, y, d] of tiles) staging.put(z, x, y, d);
    })();
    const out = join(dir, 'big.pmtiles');
    writePmtiles(staging, out, { name: 'big', format: 'png', bounds: [-180, 0, 180, 85], minzoom: 8, maxzoom: 8 });
    staging.close();
    const archive = new PMTiles(source(out));
    const header = await archive.getHeader();
    expect(header.leafDirectoryLength).toBeGreaterThan(0);
    expect(header.rootDirectoryLength).toBeLessThanOrEqual(16384 - 127);
    expect(header.numAddressedTiles).toBe(tiles.length);
    expect(header.numTileContents).toBe(tiles.length - tiles.filter(([, , , d]) => d.toString() === 'ocean').length + 1);
    for (const [z, x, y, d] of tiles.filter((_, i) => i % 97 === 0)) {
      const got = await archive.getZxy(z, x, y);
      expect(Buffer.from(got!.data).equals(d)).toBe(true);
    }
    expect(await archive.getZxy(8, 0, 200)).toBeUndefined();
  });
});
