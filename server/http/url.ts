/**
 * The path and query (+ fragment) of a request URL, i.e. everything after the origin, without
 * parsing it: request URLs are already serialised (`scheme://host/…`).
 * @example pathAndQuery('http://localhost:8787/udf/a/tiles/1/0/0.mvt?n=1') // '/udf/a/tiles/1/0/0.mvt?n=1'
 */
export function pathAndQuery(url: string): string {
  const scheme = url.indexOf('://');
  const slash = scheme < 0 ? -1 : url.indexOf('/', scheme + 3);
  // No path, or user info whose origin would omit it: let URL decide.
  if (slash < 0 || url.lastIndexOf('@', slash) > scheme) return url.slice(new URL(url).origin.length);
  return url.slice(slash);
}
