import writeXlsxFile, { type Cell } from 'write-excel-file/universal';
import type { Encoder } from '../types.ts';
import { tabulate } from './tabular.ts';
import { geometryToWkt } from './wkt.ts';

/** Excel's limit on characters in one cell: longer WKT would make Excel "repair" the file. */
const MAX_CELL = 32767;

/** A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`. */
function sheetName(name: string): string {
  return name.replace(/[[\]:*?/\\]/g, '_').slice(0, 31) || 'Sheet1';
}

/**
 * `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` (xlsx): one sheet named
 * after the UDF, a bold header row, numbers and booleans as typed cells, vector results with a
 * last `geometry` column in WKT (cut at Excel's 32,767-character cell limit). Written by
 * write-excel-file (its runtime-neutral build: no fs, no streams) rather than by hand, since
 * xlsx is a zip of several XML parts with strict relationships.
 */
export const excelEncoder: Encoder = {
  name: 'excel',
  aliases: ['xlsx'],
  extension: 'xlsx',
  mediaType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  accepts: ['vector', 'table', 'empty'],
  async encode(result, ctx) {
    const { columns, geometries, rowCount } = tabulate(result);
    const header: Cell[] = [...columns.map((c) => c.name), ...(geometries ? ['geometry'] : [])].map((value) => ({ value, fontWeight: 'bold' as const }));
    const rows: Cell[][] = [header];
    for (let r = 0; r < rowCount; r++) {
      const row: Cell[] = columns.map((c) => {
        const v = c.values[r];
        if (v === null) return null;
        if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
        if (typeof v === 'string' && v.length > MAX_CELL) return v.slice(0, MAX_CELL);
        return v;
      });
      if (geometries) {
        const g = geometries[r];
        row.push(g ? geometryToWkt(g).slice(0, MAX_CELL) : null);
      }
      rows.push(row);
    }
    const blob = await writeXlsxFile(rows, { sheet: sheetName(ctx.udfName) }).toBlob();
    return new Uint8Array(await blob.arrayBuffer());
  },
};
