import { tableToIPC } from 'apache-arrow';
import type { Encoder } from '../types.ts';
import { toArrowTable } from './arrow.ts';

/**
 * `application/vnd.apache.arrow.file`: Feather v2, i.e. the Arrow IPC *file* format (magic
 * `ARROW1`, a footer for random access), which `pandas.read_feather`, `geopandas` (with
 * pyarrow), R's arrow and apache-arrow's `tableFromIPC` read. Same columns as `arrow`.
 */
export const featherEncoder: Encoder = {
  name: 'feather',
  aliases: ['ftr'],
  extension: 'feather',
  mediaType: 'application/vnd.apache.arrow.file',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    return tableToIPC(toArrowTable(result), 'file');
  },
};
