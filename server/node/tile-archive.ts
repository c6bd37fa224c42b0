import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { zxyToTileId } from 'pmtiles';
import type { Bounds } from '../types.ts';

/**
 * Staging store of an export: every finished tile (empty ones too, so a resumed export skips
 * them) in a SQLite file next to the output. It is what makes an export resumable: it is
 * written tile by tile, and the archive is assembled from it only when every tile is done.
 */
export class ExportStaging {
  readonly db: Database.Database;
  private readonly insert: Database.Statement;

  constructor(readonly path: string) {
    this.db = new Database(path);
    // WAL + NORMAL: each tile is durable across a process kill without an fsync per tile.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS job (spec TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS done (tile_id INTEGER PRIMARY KEY, z INTEGER, x INTEGER, y INTEGER, data BLOB);
    `);
    this.insert = this.db.prepare('INSERT OR REPLACE INTO done (tile_id, z, x, y, data) VALUES (?, ?, ?, ?, ?)');
  }

  /** The job this staging file belongs to; set on first use, compared on resume. */
  spec(): string | undefined {
    return (this.db.prepare('SELECT spec FROM job').get() as { spec: string } | undefined)?.spec;
  }

  setSpec(spec: string): void {
    this.db.prepare('DELETE FROM job').run();
    this.db.prepare('INSERT INTO job (spec) VALUES (?)').run(spec);
  }

  has(z: number, x: number, y: number): boolean {
    return this.db.prepare('SELECT 1 FROM done WHERE tile_id = ?').get(zxyToTileId(z, x, y)) !== undefined;
  }

  /** Tile ids already done, for skipping them on resume. */
  doneIds(): Set<number> {
    const ids = new Set<number>();
    for (const row of this.db.prepare('SELECT tile_id FROM done').iterate() as Iterable<{ tile_id: number }>) ids.add(row.tile_id);
    return ids;
  }

  /** Records a finished tile; `data` null means empty (not written to the archive). */
  put(z: number, x: number, y: number, data: Uint8Array | null): void {
    this.insert.run(zxyToTileId(z, x, y), z, x, y, data && data.byteLength > 0 ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : null);
  }

  counts(): { done: number; written: number } {
    const r = this.db.prepare('SELECT count(*) AS done, count(data) AS written FROM done').get() as { done: number; written: number };
    return r;
  }

  /** The first non-empty tile, if any. */
  firstTile(): { z: number; x: number; y: number } | undefined {
    return this.db.prepare('SELECT z, x, y FROM done WHERE data IS NOT NULL ORDER BY tile_id LIMIT 1').get() as { z: number; x: number; y: number } | undefined;
  }

  /** Non-empty tiles in tile-id (Hilbert) order, as PMTiles clusters them. */
  *tiles(): Generator<{ tileId: number; z: number; x: number; y: number; data: Buffer }> {
    const rows = this.db.prepare('SELECT tile_id AS tileId, z, x, y, data FROM done WHERE data IS NOT NULL ORDER BY tile_id').iterate();
    yield* rows as Iterable<{ tileId: number; z: number; x: number; y: number; data: Buffer }>;
  }

  close(): void {
    this.db.close();
  }
}

/** What the archive says about its tiles. */
export interface ArchiveMetadata {
  name: string;
  /** Tile format: `mvt`, `png`, … */
  format: string;
  bounds: Bounds;
  minzoom: number;
  maxzoom: number;
  description?: string;
  attribution?: string;
  /** TileJSON `vector_layers` (for MVT). */
  vectorLayers?: unknown[];
}

const TILE_TYPES: Record<string, number> = { mvt: 1, pbf: 1, png: 2, jpg: 3, jpeg: 3, webp: 4, avif: 5 };

/**
 * Vector tiles are stored gzip-compressed, as in tippecanoe's archives: MBTiles readers such
 * as QGIS expect it, and PMTiles readers decompress by the header's tile compression field.
 * Images are already compressed.
 */
function gzipsTiles(format: string): boolean {
  return format === 'mvt' || format === 'pbf';
}

/** Writes `len` bytes of an unsigned LEB128 varint (as PMTiles directories use). */
function varint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

interface DirEntry {
  tileId: number;
  offset: number;
  length: number;
  runLength: number;
}

/** A PMTiles v3 directory, gzip-compressed (columns: ids as deltas, run lengths, lengths, offsets). */
function serializeDirectory(entries: DirEntry[]): Buffer {
  const out: number[] = [];
  varint(out, entries.length);
  let last = 0;
  for (const e of entries) {
    varint(out, e.tileId - last);
    last = e.tileId;
  }
  for (const e of entries) varint(out, e.runLength);
  for (const e of entries) varint(out, e.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const prev = entries[i - 1];
    // 0 means "right after the previous entry's data": the common case in a clustered archive.
    varint(out, i > 0 && prev && e.offset === prev.offset + prev.length ? 0 : e.offset + 1);
  }
  return gzipSync(Buffer.from(out));
}

/** Root directory plus leaves, with the root small enough for the first 16 KiB fetch. */
function buildDirectories(entries: DirEntry[]): { root: Buffer; leaves: Buffer } {
  const root = serializeDirectory(entries);
  if (root.length <= 16384 - 127) return { root, leaves: Buffer.alloc(0) };
  for (let leafSize = 4096; ; leafSize *= 2) {
    const rootEntries: DirEntry[] = [];
    const parts: Buffer[] = [];
    let offset = 0;
    for (let i = 0; i < entries.length; i += leafSize) {
      const chunk = entries.slice(i, i + leafSize);
      const leaf = serializeDirectory(chunk);
      rootEntries.push({ tileId: chunk[0]!.tileId, offset, length: leaf.length, runLength: 0 });
      parts.push(leaf);
      offset += leaf.length;
    }
    const r = serializeDirectory(rootEntries);
    if (r.length <= 16384 - 127) return { root: r, leaves: Buffer.concat(parts) };
  }
}

function writeBig(buf: Buffer, value: number, at: number): void {
  buf.writeBigUInt64LE(BigInt(value), at);
}

/**
 * Writes a PMTiles v3 archive from the staging store: tiles in tile-id order (clustered),
 * identical tiles stored once (run-length encoded when adjacent), directories and the
 * TileJSON-like metadata gzip-compressed. Vector tiles are gzipped (readers return the
 * server's bytes after decompressing), images stored as served. Written to a temp file and renamed, so `out` is never partial.
 */
export function writePmtiles(staging: ExportStaging, out: string, meta: ArchiveMetadata): { tiles: number; bytes: number } {
  const dataPath = `${out}.data.tmp`;
  const fd = openSync(dataPath, 'w');
  const entries: DirEntry[] = [];
  const seen = new Map<string, { offset: number; length: number }>();
  const gzip = gzipsTiles(meta.format);
  let dataLength = 0;
  let addressed = 0;
  try {
    for (const t of staging.tiles()) {
      addressed++;
      const hash = createHash('sha256').update(t.data).digest('base64');
      let where = seen.get(hash);
      if (!where) {
        const bytes = gzip ? gzipSync(t.data) : t.data;
        where = { offset: dataLength, length: bytes.length };
        writeSync(fd, bytes);
        dataLength += bytes.length;
        seen.set(hash, where);
      }
      const prev = entries[entries.length - 1];
      if (prev && prev.offset === where.offset && prev.length === where.length && prev.tileId + prev.runLength === t.tileId) prev.runLength++;
      else entries.push({ tileId: t.tileId, offset: where.offset, length: where.length, runLength: 1 });
    }
  } finally {
    closeSync(fd);
  }
  const { root, leaves } = buildDirectories(entries);
  const metadata = gzipSync(
    Buffer.from(
      JSON.stringify({
        name: meta.name,
        format: meta.format === 'mvt' ? 'pbf' : meta.format,
        type: 'overlay',
        description: meta.description ?? `${meta.name}, exported by tilesmith`,
        attribution: meta.attribution,
        bounds: meta.bounds.join(','),
        minzoom: meta.minzoom,
        maxzoom: meta.maxzoom,
        vector_layers: meta.vectorLayers,
        generator: 'tilesmith',
      }),
    ),
  );
  const header = Buffer.alloc(127);
  header.write('PMTiles', 0, 'latin1');
  header[7] = 3;
  const rootOffset = 127;
  const metaOffset = rootOffset + root.length;
  const leafOffset = metaOffset + metadata.length;
  const dataOffset = leafOffset + leaves.length;
  writeBig(header, rootOffset, 8);
  writeBig(header, root.length, 16);
  writeBig(header, metaOffset, 24);
  writeBig(header, metadata.length, 32);
  writeBig(header, leafOffset, 40);
  writeBig(header, leaves.length, 48);
  writeBig(header, dataOffset, 56);
  writeBig(header, dataLength, 64);
  writeBig(header, addressed, 72);
  writeBig(header, entries.length, 80);
  writeBig(header, seen.size, 88);
  header[96] = 1; // clustered
  header[97] = 2; // internal compression: gzip
  header[98] = gzip ? 2 : 1; // tile compression: gzip for vector tiles, none for images
  header[99] = TILE_TYPES[meta.format] ?? 0;
  header[100] = meta.minzoom;
  header[101] = meta.maxzoom;
  const e7 = (v: number) => Math.round(v * 1e7);
  const [w, s, e, n] = meta.bounds;
  header.writeInt32LE(e7(w), 102);
  header.writeInt32LE(e7(s), 106);
  header.writeInt32LE(e7(e), 110);
  header.writeInt32LE(e7(n), 114);
  header[118] = meta.minzoom;
  header.writeInt32LE(e7((w + e) / 2), 119);
  header.writeInt32LE(e7((s + n) / 2), 123);

  const tmp = `${out}.tmp`;
  const outFd = openSync(tmp, 'w');
  try {
    for (const part of [header, root, metadata, leaves]) writeSync(outFd, part);
    const inFd = openSync(dataPath, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n2 = readSync(inFd, buf, 0, buf.length, null);
        if (n2 === 0) break;
        writeSync(outFd, buf, 0, n2);
      }
    } finally {
      closeSync(inFd);
    }
  } finally {
    closeSync(outFd);
  }
  rmSync(dataPath, { force: true });
  renameSync(tmp, out);
  return { tiles: addressed, bytes: dataOffset + dataLength };
}

/**
 * Writes an MBTiles 1.3 file (SQLite via better-sqlite3; rows in TMS order, i.e. y flipped)
 * from the staging store, with `metadata` rows including the `json` vector_layers for MVT;
 * vector tiles gzipped as the MBTiles spec and its readers expect.
 */
export function writeMbtiles(staging: ExportStaging, out: string, meta: ArchiveMetadata): { tiles: number } {
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.exec(`
      CREATE TABLE metadata (name TEXT, value TEXT);
      CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
      CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
      CREATE UNIQUE INDEX name ON metadata (name);
    `);
    const [w, s, e, n] = meta.bounds;
    const rows: Record<string, string> = {
      name: meta.name,
      format: meta.format === 'mvt' ? 'pbf' : meta.format,
      type: 'overlay',
      version: '1',
      description: meta.description ?? `${meta.name}, exported by tilesmith`,
      bounds: `${w},${s},${e},${n}`,
      center: `${(w + e) / 2},${(s + n) / 2},${meta.minzoom}`,
      minzoom: String(meta.minzoom),
      maxzoom: String(meta.maxzoom),
    };
    if (meta.attribution) rows.attribution = meta.attribution;
    if (meta.vectorLayers) rows.json = JSON.stringify({ vector_layers: meta.vectorLayers });
    const putMeta = db.prepare('INSERT INTO metadata (name, value) VALUES (?, ?)');
    const putTile = db.prepare('INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)');
    let count = 0;
    const gzip = gzipsTiles(meta.format);
    db.transaction(() => {
      for (const [k, v] of Object.entries(rows)) putMeta.run(k, v);
      for (const t of staging.tiles()) {
        putTile.run(t.z, t.x, 2 ** t.z - 1 - t.y, gzip ? gzipSync(t.data) : t.data);
        count++;
      }
    })();
    db.close();
    renameSync(tmp, out);
    return { tiles: count };
  } catch (error) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw error;
  }
}
