import { Binary, Bool, Field, Float64, Int32, Int64, Schema, Table, Utf8, vectorFromArray, type DataType, type Vector } from 'apache-arrow';
import { tableToIPC } from 'apache-arrow';
import type { Encoder, NormalizedResult } from '../types.ts';
import { tabulate, type ColumnType } from './tabular.ts';
import { geometryToWkb } from './wkb.ts';

const ARROW_TYPES: Record<ColumnType, () => DataType> = {
  int32: () => new Int32(),
  int64: () => new Int64(),
  double: () => new Float64(),
  bool: () => new Bool(),
  string: () => new Utf8(),
};

/**
 * `application/vnd.apache.arrow.stream`: an Arrow IPC stream. Vector results carry a `geometry`
 * Binary column of ISO WKB tagged `ARROW:extension:name = geoarrow.wkb`, which GeoArrow-aware
 * readers (lonboard, GeoPandas via pyarrow, DuckDB) turn back into geometries.
 */
export const arrowEncoder: Encoder = {
  name: 'arrow',
  aliases: ['arrows', 'ipc'],
  extension: 'arrow',
  mediaType: 'application/vnd.apache.arrow.stream',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    return tableToIPC(toArrowTable(result), 'stream');
  },
};

/**
 * The Arrow table the arrow (stream) and feather (file) formats write: one column per
 * property, plus a geoarrow.wkb `geometry` column for vector results.
 */
export function toArrowTable(result: NormalizedResult): Table {
  const { columns, geometries } = tabulate(result);
  const fields: Field[] = [];
  const vectors: Record<string, Vector> = {};
  for (const c of columns) {
    const type = ARROW_TYPES[c.type]();
    fields.push(new Field(c.name, type, true));
    vectors[c.name] = vectorFromArray(c.values, type);
  }
  if (geometries) {
    const metadata = new Map([
      ['ARROW:extension:name', 'geoarrow.wkb'],
      ['ARROW:extension:metadata', '{}'],
    ]);
    fields.push(new Field('geometry', new Binary(), true, metadata));
    vectors.geometry = vectorFromArray(
      geometries.map((g) => (g ? geometryToWkb(g) : null)),
      new Binary(),
    );
  }
  return new Table(new Schema(fields), vectors);
}
