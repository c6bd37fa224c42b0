/**
 * Entry of the browser bundle served at `/client/tilesmith-client.js` (IIFE, global
 * `tilesmith`): the core URL helpers at the top level, each adapter under its name.
 *
 * ```html
 * <script src="/vendor/deck.gl/dist.min.js"></script>
 * <script src="/client/tilesmith-client.js"></script>
 * <script>
 *   new deck.Deck({ layers: [tilesmith.deckgl.udfLayer({ server: location.origin, udf: 'points' })] });
 * </script>
 * ```
 */
export * from './index.ts';
export * as deckgl from './deckgl.ts';
export * as maplibre from './maplibre.ts';
export * as leaflet from './leaflet.ts';
export * as qgis from './qgis.ts';
export * as felt from './felt.ts';
