import type { Encoder, Feature } from '../types.ts';
import { featureCollectionText } from './json.ts';

const utf8 = new TextEncoder();

/**
 * `application/geo+json`: a FeatureCollection. Table rows become features with a null
 * geometry (valid GeoJSON, so tools that import "GeoJSON without geometry" still work).
 */
export const geojsonEncoder: Encoder = {
  name: 'geojson',
  aliases: [],
  extension: 'geojson',
  mediaType: 'application/geo+json',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    switch (result.kind) {
      case 'vector':
        return utf8.encode(featureCollectionText(result.features));
      case 'table':
        return utf8.encode(
          featureCollectionText(result.table.rows.map((row): Feature<null> => ({ type: 'Feature', geometry: null, properties: row }))),
        );
      case 'empty':
        return utf8.encode('{"type":"FeatureCollection","features":[]}');
      default:
        throw new Error(`geojson encoder cannot encode a ${result.kind} result`);
    }
  },
};
