/**
 * Fused's share URLs: `/server/v1/realtime-shared/{token}/run/tiles/{z}/{x}/{y}[.{ext}]` and
 * `/server/v1/realtime-shared/{token}/run/file[.{ext}]`, so a Fused user moves a shared URL to
 * tilesmith by changing only the host. The token (a `fsh_…` share token for one UDF) is
 * looked up, and the request is answered exactly as `/udf/{name}/tiles/…` / `/udf/{name}/file`
 * with the same query (`dtype_out_vector`, `dtype_out_raster`, UDF parameters, cache options)
 * plus the token's pinned parameters: it is re-dispatched through the app, so caching,
 * formats and errors cannot drift from the named routes.
 *
 * These responses keep `Cache-Control: public`: the token is part of the URL, as on Fused, so
 * a CDN caches each shared URL separately. The trade-off (documented in the README): copies a
 * CDN or browser already holds outlive a revocation until their max-age runs out.
 */
import { Hono, type Context } from 'hono';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import { errorResponse, requestId } from '../http/response.ts';
import { grantRequest, setPrincipal } from '../auth/middleware.ts';
import { rejectionMessage, type TokenStore } from '../auth/tokens.ts';

export interface ShareRouteDeps {
  store?: TokenStore;
  /** Answers a request through the whole app (middleware included). */
  dispatch(req: Request): Response | Promise<Response>;
  onFailure?(reason: 'missing' | 'invalid' | 'forbidden'): void;
  dev?: boolean;
}

export const SHARE_PREFIX = '/server/v1/realtime-shared';

/** The share-URL routes. */
export function createShareRoutes(deps: ShareRouteDeps): Hono {
  const app = new Hono();

  const forward = async (c: Context, rest: string) => {
    const token = c.req.param('token') ?? '';
    const fail = (err: UnauthorizedError | ForbiddenError, reason: 'invalid' | 'forbidden') => {
      deps.onFailure?.(reason);
      return errorResponse(err, undefined, c, { dev: deps.dev });
    };
    const r = deps.store ? await deps.store.verify(token) : ({ ok: false, reason: 'unknown' } as const);
    if (!r.ok) return fail(new UnauthorizedError(rejectionMessage(r.reason), true), 'invalid');
    const record = r.token;
    if (record.udfs === '*' || record.udfs.length !== 1) {
      return fail(
        new ForbiddenError(
          `This token (id ${record.id}) is not a share token for one UDF, so a share URL cannot tell which UDF to run. Use /udf/{name}/… with it as ?token= or Authorization: Bearer, or create a share token with tilesmith token create --udf NAME.`,
        ),
        'forbidden',
      );
    }
    const udf = record.udfs[0]!;
    setPrincipal(c, record); // the outer request's log line and metrics name the token id and UDF
    const src = new URL(c.req.url);
    const target = new URL(`/udf/${encodeURIComponent(udf)}/${rest}`, src);
    for (const [k, v] of src.searchParams) if (k !== 'token') target.searchParams.append(k, v);
    for (const [k, v] of Object.entries(record.params)) target.searchParams.set(k, v);
    const headers = new Headers(c.req.raw.headers);
    headers.delete('authorization');
    // One request id for the client, the log and the inner request.
    headers.set('x-request-id', requestId(c));
    const inner = new Request(target, { method: c.req.method, headers, signal: c.req.raw.signal });
    grantRequest(inner, record);
    return deps.dispatch(inner);
  };

  app.get(`${SHARE_PREFIX}/:token/run/tiles/:z/:x/:y`, (c) => forward(c, `tiles/${c.req.param('z')}/${c.req.param('x')}/${c.req.param('y')}`));
  app.get(`${SHARE_PREFIX}/:token/run/:leaf{file(?:\\.[A-Za-z0-9]+)?}`, (c) => forward(c, c.req.param('leaf')));
  return app;
}
