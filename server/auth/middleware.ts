/**
 * Who may call what: the auth middleware (runtime-neutral; the token store comes in as an
 * argument). It decides, per request, from the path and the presented token:
 * - `/udf/{name}/…` of a private UDF (every UDF under `--auth` unless it declares
 *   `public: true`): no token → 401 with `WWW-Authenticate`; a refused token → 401; a token
 *   whose scope does not list the UDF → 403.
 * - `/admin/*` (and `/metrics` when told): an admin token.
 * A valid token's pinned parameters replace the request's; a `?token=` is taken out of the
 * URL of tile and file requests before they reach the pipeline, so it never reaches a cache
 * key, a memo or a log line (metadata requests keep it: TileJSON, style.json and qgis.xml copy
 * it into their tile URLs so the client keeps working). Responses to requests a token
 * authorised are `Cache-Control: private` with `Vary: Authorization` (see `isPrivateResponse`).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import { errorResponse } from '../http/response.ts';
import type { LoadedUdf } from '../types.ts';
import { rejectionMessage, tokenAllows, type TokenRecord, type TokenStore } from './tokens.ts';

export interface AuthOptions {
  /** Where tokens are checked. Without one, no token is valid (admin routes answer 401). */
  store?: TokenStore;
  /** `--auth`: UDFs are private unless they declare `public: true`. @default false */
  required?: boolean;
  /** `/metrics` needs an admin token (true on the main port under `--auth`). @default false */
  protectMetrics?: boolean;
  /** Counts refusals (for the `tilesmith_auth_failures_total` metric). */
  onFailure?(reason: 'missing' | 'invalid' | 'forbidden'): void;
}

const PRINCIPAL = 'tilesmith.principal';
const VISIBLE = 'tilesmith.catalogVisible';
const PRIVATE = 'tilesmith.private';

/** Requests built by the share routes, already authorised by their token (see share.ts). */
const granted = new WeakMap<Request, TokenRecord>();

/** Marks an internal request as authorised by `token` (share URLs re-dispatch through the app). */
export function grantRequest(req: Request, token: TokenRecord): void {
  granted.set(req, token);
}

/** Whether `req` was built by the share routes (its outer request is the one to log and count). */
export function isGrantedRequest(req: Request): boolean {
  return granted.has(req);
}

/** Records the token a route (the share routes) authorised this request with, for logs and metrics. */
export function setPrincipal(c: Context, token: TokenRecord): void {
  c.set(PRINCIPAL, token);
}

/** The token that authorised this request, if any. */
export function principalOf(c: Context): TokenRecord | undefined {
  return c.get(PRINCIPAL) as TokenRecord | undefined;
}

/** Whether a catalog page should list UDF `name` to this request (always, unless `--auth` set a filter). */
export function catalogVisible(c: Context, name: string): boolean {
  const visible = c.get(VISIBLE) as ((name: string) => boolean) | undefined;
  return visible ? visible(name) : true;
}

/** Whether the request carries an admin token (client cache overrides are always honoured for it). */
export function isAdminRequest(c: Context): boolean {
  return principalOf(c)?.scope === 'admin';
}

/** Whether the response must be `Cache-Control: private` + `Vary: Authorization` (a token authorised it). */
export function isPrivateResponse(c: Context): boolean {
  return c.get(PRIVATE) === true;
}

/** The token a request presents: `Authorization: Bearer …` first, else `?token=`. */
export function presentedToken(c: Context): string | undefined {
  const auth = c.req.raw.headers.get('authorization');
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const url = c.req.url;
  if (!url.includes('token=')) return undefined;
  return new URL(url).searchParams.get('token') ?? undefined;
}

/** The URL with every `token` query parameter removed (for logs). */
export function redactUrl(pathAndQuery: string): string {
  return pathAndQuery
    .replace(/([?&]token=)[^&#]*/g, '$1[redacted]')
    .replace(/(\/realtime-shared\/)[^/?#]+/, '$1[redacted]');
}

const UDF_PATH = /^\/udf\/([^/]+)(\/.*)?$/;
/** Routes whose responses are results: the token leaves their URL before the pipeline sees it. */
const DATA_LEAF = /^\/(?:run\/)?(?:tiles\/|file(?:\.|$))/;

/** UDF registry access the middleware needs. */
export interface AuthRegistry {
  get(name: string): LoadedUdf | undefined;
}

/** Whether anyone may run `udf` without a token. */
export function isPublicUdf(udf: LoadedUdf, required: boolean): boolean {
  return !required || udf.options.public === true;
}

/**
 * The auth middleware. Mount it after the CORS/common-headers middleware and before the
 * routes.
 */
export function createAuthMiddleware(registry: AuthRegistry, opts: AuthOptions, dev = false): MiddlewareHandler {
  const required = opts.required ?? false;
  const fail = (c: Context, err: UnauthorizedError | ForbiddenError, reason: 'missing' | 'invalid' | 'forbidden') => {
    opts.onFailure?.(reason);
    return errorResponse(err, undefined, c, { dev });
  };
  const check = async (token: string) => (opts.store ? await opts.store.verify(token) : ({ ok: false, reason: 'unknown' } as const));

  return async (c, next) => {
    const grant = granted.get(c.req.raw);
    if (grant) {
      // A share URL: the token is in the path, as on Fused; responses stay shareable.
      c.set(PRINCIPAL, grant);
      return next();
    }
    const path = c.req.path;
    // Run records and environments: under --auth, any valid token (the routes then show a
    // token only the runs it started; admin tokens see all).
    if (required && (path === '/runs' || path.startsWith('/runs/') || path === '/envs')) {
      const token = presentedToken(c);
      if (!token) return fail(c, new UnauthorizedError('Runs and environments need a token: send Authorization: Bearer <token> or ?token=.'), 'missing');
      const r = await check(token);
      if (!r.ok) return fail(c, new UnauthorizedError(rejectionMessage(r.reason), true), 'invalid');
      c.set(PRINCIPAL, r.token);
      c.set(PRIVATE, true);
      return next();
    }
    const admin = path === '/admin' || path.startsWith('/admin/') || (opts.protectMetrics === true && path === '/metrics');
    const m = admin ? null : UDF_PATH.exec(path);
    if (!admin && !m) {
      if (required && path === '/udfs') return filterCatalog(c, next, registry, opts);
      if (required && path === '/') c.set(VISIBLE, await visibility(c, registry, opts));
      return next();
    }
    const token = presentedToken(c);
    if (admin) {
      if (!token) return fail(c, new UnauthorizedError('This endpoint needs an admin token: send Authorization: Bearer <token> (create one with tilesmith token create --scope admin).'), 'missing');
      const r = await check(token);
      if (!r.ok) return fail(c, new UnauthorizedError(rejectionMessage(r.reason), true), 'invalid');
      if (r.token.scope !== 'admin') return fail(c, new ForbiddenError(`This endpoint needs a token with scope admin; the token given (id ${r.token.id}) has scope ${r.token.scope}.`), 'forbidden');
      c.set(PRINCIPAL, r.token);
      c.set(PRIVATE, true);
      return next();
    }

    let name: string;
    try {
      name = decodeURIComponent(m![1]!);
    } catch {
      return next();
    }
    const udf = registry.get(name);
    if (!udf) return next(); // the routes answer 404
    const open = isPublicUdf(udf, required);
    let principal: TokenRecord | undefined;
    if (token) {
      const r = await check(token);
      if (r.ok && tokenAllows(r.token, udf.name)) principal = r.token;
      else if (!open) {
        if (!r.ok) return fail(c, new UnauthorizedError(rejectionMessage(r.reason), true), 'invalid');
        return fail(
          c,
          new ForbiddenError(`The token given (id ${r.token.id}) may not run UDF '${udf.name}': it is limited to ${r.token.udfs === '*' ? 'all UDFs' : r.token.udfs.map((u) => `'${u}'`).join(', ')}.`),
          'forbidden',
        );
      }
      // A refused token on a public UDF is ignored: the UDF needs none.
    } else if (!open) {
      return fail(
        c,
        new UnauthorizedError(`UDF '${udf.name}' is private: send a token as Authorization: Bearer <token> or as ?token=<token> (the server operator creates them with tilesmith token create).`),
        'missing',
      );
    }
    if (principal) {
      c.set(PRINCIPAL, principal);
      c.set(PRIVATE, true);
      const pins = Object.entries(principal.params);
      const dataRoute = DATA_LEAF.test(m![2] ?? '');
      const url = c.req.url;
      const tokenInQuery = dataRoute && /[?&]token=/.test(url);
      if (pins.length || tokenInQuery) {
        const u = new URL(url);
        if (dataRoute) u.searchParams.delete('token');
        for (const [k, v] of pins) u.searchParams.set(k, v);
        c.req.raw = new Request(u, c.req.raw);
      }
    }
    await next();
    if (principal) makePrivate(c);
  };
}

/** Turns a `public` Cache-Control of a response the handler built (TileJSON, style.json, …) into `private` + `Vary: Authorization`. */
function makePrivate(c: Context): void {
  const cc = c.res.headers.get('cache-control');
  const vary = c.res.headers.get('vary') ?? '';
  if ((cc && /\bpublic\b/.test(cc)) || !/\bauthorization\b/i.test(vary)) {
    let res = c.res;
    const apply = (h: Headers) => {
      if (cc && /\bpublic\b/.test(cc)) h.set('Cache-Control', cc.replace(/\bpublic\b/, 'private'));
      if (!/\bauthorization\b/i.test(vary)) h.set('Vary', vary ? `${vary}, Authorization` : 'Authorization');
    };
    try {
      apply(res.headers);
    } catch {
      res = new Response(res.body, res);
      apply(res.headers);
      replaceResponse(c, res);
    }
  }
}

/** Which UDFs a catalog shows this request under `--auth`: public ones and those its token may run. */
async function visibility(c: Context, registry: AuthRegistry, opts: AuthOptions): Promise<(name: string) => boolean> {
  const token = presentedToken(c);
  let principal: TokenRecord | undefined;
  if (token && opts.store) {
    const r = await opts.store.verify(token);
    if (r.ok) principal = r.token;
  }
  return (name) => {
    const udf = registry.get(name);
    return !udf || isPublicUdf(udf, true) || (principal !== undefined && tokenAllows(principal, name));
  };
}

/** Under `--auth`, the catalog lists public UDFs and those the request's token may run. */
async function filterCatalog(c: Context, next: () => Promise<void>, registry: AuthRegistry, opts: AuthOptions): Promise<Response | void> {
  const show = await visibility(c, registry, opts);
  await next();
  if (c.res.status !== 200) return;
  const list = (await c.res.clone().json()) as Array<{ name: string }>;
  const visible = list.filter((e) => show(e.name));
  const headers = new Headers(c.res.headers);
  headers.delete('content-length');
  headers.set('Cache-Control', 'private, no-cache');
  headers.set('Vary', 'Authorization');
  replaceResponse(c, new Response(JSON.stringify(visible), { status: 200, headers }));
}

/** Replaces the response outright (hono's `c.res =` would copy the old headers over the new ones). */
function replaceResponse(c: Context, res: Response): void {
  c.res = undefined as unknown as Response;
  c.res = res;
}
