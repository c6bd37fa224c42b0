// vt-pbf 3 ships no types; this covers the one function the mvt encoder uses.
declare module 'vt-pbf' {
  interface VtPbf {
    /** Serialises geojson-vt tiles (`{ layerName: tile }`) to an uncompressed MVT. */
    fromGeojsonVt(layers: Record<string, { features: unknown[] }>, options?: { version?: number; extent?: number }): Uint8Array;
  }
  const vtpbf: VtPbf;
  export default vtpbf;
}
