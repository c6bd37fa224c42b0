/**
 * The app answers CORS, Timing-Allow-Origin and the URL length limit with its own middleware
 * (so that a cached tile keeps @hono/node-server's fast path). These tests compare it with the
 * middleware chain it replaced: hono's cors() + a `c.header('Timing-Allow-Origin')` middleware.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { describe, expect, it } from 'vitest';
import { corsPolicy, createApp, pathAndQueryLength } from './app.ts';
import { createMemoryCache } from './cache/memory.ts';
import { createDefaultEncoderRegistry } from './encoders/index.ts';
import { BadRequestError, NotFoundError } from './errors.ts';
import { errorResponse } from './http/response.ts';
import { createUdfRoutes } from './routes/udf-routes.ts';
import type { LoadedUdf } from './types.ts';

function makeUdf(): LoadedUdf {
  return {
    name: 'pts',
    language: 'typescript',
    source: 'pts.ts',
    codeHash: 'abc',
    params: { n: { type: 'int', default: 1 } },
    options: {},
    runtime: {
      async run(call) {
        const n = call.params.n as number;
        if (n < 0) throw new Error('negative n');
        const [w, s, e, nn] = call.bounds ?? [-1, -1, 1, 1];
        const features = Array.from({ length: n }, (_, i) => ({
          type: 'Feature' as const,
          properties: { i },
          geometry: { type: 'Point' as const, coordinates: [w + ((e - w) * (i + 0.5)) / n, (s + nn) / 2] },
        }));
        return { value: { type: 'FeatureCollection', features }, logs: [] };
      },
    },
  };
}

function registryOf(udf: LoadedUdf) {
  return { get: (name: string) => (name === udf.name ? udf : undefined), list: () => [udf] };
}

/** The app as it was built before: hono's cors() and a Timing-Allow-Origin middleware. */
function referenceApp(corsOrigin: string | string[]): Hono {
  const udf = makeUdf();
  const log = () => {};
  const app = new Hono();
  app.use(
    '*',
    cors({
      origin: corsOrigin,
      allowMethods: ['GET', 'HEAD', 'OPTIONS', 'POST', 'DELETE'],
      allowHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Range'],
      exposeHeaders: ['ETag', 'X-Cache', 'X-Cache-Tier', 'Server-Timing', 'X-Tilesmith-Error', 'X-Request-Id', 'Retry-After', 'Content-Disposition', 'Content-Length', 'X-Run-Id', 'Location'],
      maxAge: 86400,
    }),
  );
  app.use('*', async (c, next) => {
    c.header('Timing-Allow-Origin', '*');
    const url = c.req.url;
    const pathAndQuery = url.length - new URL(url).origin.length;
    if (pathAndQuery > 8192) {
      throw new BadRequestError(`The URL is ${pathAndQuery} bytes long; at most 8192 bytes are accepted. Send fewer or shorter parameters.`, 'uri_too_long');
    }
    await next();
  });
  app.get('/plain', (c) => c.html('<p>plain</p>'));
  app.get('/vary', (c) => c.body('v', 200, { Vary: 'Accept-Encoding', 'Access-Control-Allow-Origin': 'https://own.example' }));
  app.route(
    '/',
    createUdfRoutes({
      registry: registryOf(udf),
      encoders: createDefaultEncoderRegistry(),
      cache: createMemoryCache(),
      defaultMaxAge: 90 * 86400,
      insights: new Map(),
      log,
      maxZoom: 30,
      baseUrl: () => 'http://localhost',
      resolveKind: async () => 'vector',
    }),
  );
  app.notFound(() => errorResponse(new NotFoundError('No such endpoint. Try GET /udfs, /udf/{name}/tiles/{z}/{x}/{y}, /udf/{name}/file or /udf/{name}/tilejson.json.')));
  app.onError((err) => errorResponse(err, log));
  return app;
}

function currentApp(corsOrigin: string | string[]): Hono {
  const udf = makeUdf();
  return createApp({
    registry: registryOf(udf),
    encoders: createDefaultEncoderRegistry(),
    cache: createMemoryCache(),
    corsOrigin,
    publicUrl: 'http://localhost',
    log: () => {},
    extraRoutes: [
      () => {
        const extra = new Hono();
        extra.get('/plain', (c) => c.html('<p>plain</p>'));
        extra.get('/vary', (c) => c.body('v', 200, { Vary: 'Accept-Encoding', 'Access-Control-Allow-Origin': 'https://own.example' }));
        return extra;
      },
    ],
  });
}

async function snapshot(res: Response) {
  // max-age counts down with the clock: compare its presence, not its value.
  const headers = [...res.headers]
    .filter(([k]) => k !== 'server-timing' && k !== 'date' && k !== 'x-request-id' && k !== 'x-run-id')
    .map(([k, v]) => [k, k === 'cache-control' ? v.replace(/max-age=\d+/, 'max-age=N') : v]);
  const text = Buffer.from(await res.arrayBuffer()).toString('base64');
  return { status: res.status, headers, body: res.headers.get('content-type')?.includes('json') ? JSON.stringify({ ...JSON.parse(Buffer.from(text, 'base64').toString()), requestId: undefined }) : text };
}

const REQUESTS: Array<[string, RequestInit?]> = [
  ['/udf/pts/tiles/3/4/2.mvt?n=3'],
  ['/udf/pts/tiles/3/4/2.mvt?n=3'],
  ['/udf/pts/tiles/3/4/2.mvt?n=3', { headers: { Origin: 'https://app.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt?n=3', { headers: { Origin: 'https://other.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt?n=3', { method: 'HEAD', headers: { Origin: 'https://app.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt?n=0'],
  ['/udf/pts/tiles/3/4/2.mvt?n=-1', { headers: { Origin: 'https://app.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt?n=x'],
  ['/udf/pts/file.geojson?n=2&bounds=0,0,1,1&cache=false'],
  ['/udf/pts/tilejson.json?n=2', { headers: { Origin: 'https://app.example' } }],
  ['/udfs'],
  ['/plain', { headers: { Origin: 'https://app.example' } }],
  ['/vary', { headers: { Origin: 'https://app.example' } }],
  ['/nope', { headers: { Origin: 'https://app.example' } }],
  [`/udf/pts/tiles/0/0/0?n=${'9'.repeat(9000)}`, { headers: { Origin: 'https://app.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt', { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' } }],
  ['/nope', { method: 'OPTIONS', headers: { Origin: 'https://other.example' } }],
  ['/udf/pts/tiles/3/4/2.mvt', { method: 'OPTIONS' }],
];

describe('CORS and common headers', () => {
  for (const origin of ['*', 'https://app.example', ['https://app.example', 'https://b.example']] as Array<string | string[]>) {
    it(`match hono's cors() middleware for corsOrigin ${JSON.stringify(origin)}`, async () => {
      const before = referenceApp(origin);
      const after = currentApp(origin);
      for (const [path, init] of REQUESTS) {
        const url = `http://localhost${path}`;
        const want = await snapshot(await before.request(url, init));
        const got = await snapshot(await after.request(url, init));
        expect({ path: path.slice(0, 60), init, ...got }).toEqual({ path: path.slice(0, 60), init, ...want });
      }
    });
  }
});

describe('pathAndQueryLength', () => {
  it('equals the length after the origin', () => {
    for (const url of [
      'http://localhost/',
      'http://localhost:8787/udf/a/tiles/1/2/3?x=1',
      'https://tiles.example.org/a?b=c#frag',
      'http://[::1]:8080/x?y',
      'http://user:pw@host.example/p?q=@',
      'http://host.example/p?q=a@b',
    ]) {
      expect(pathAndQueryLength(url)).toBe(url.length - new URL(url).origin.length);
    }
  });
});

describe('corsPolicy', () => {
  it('answers one frozen headers object per allowed origin (the cached-hit fast path keys its prepared headers on it)', () => {
    const cors = corsPolicy(['https://a.example', 'https://b.example']);
    const a = cors.headers('https://a.example');
    expect(a['Access-Control-Allow-Origin']).toBe('https://a.example');
    expect(a.Vary).toBe('Origin');
    expect(cors.headers('https://a.example')).toBe(a);
    expect(cors.headers('https://b.example')['Access-Control-Allow-Origin']).toBe('https://b.example');
    expect(cors.headers('https://evil.example')['Access-Control-Allow-Origin']).toBeUndefined();
    expect(Object.isFrozen(a)).toBe(true);
  });
});
