import { describe, expect, it } from 'vitest';
import { redactUrl } from './auth/middleware.ts';
import { routeOf } from './operations.ts';

describe('redactUrl', () => {
  it('replaces every token in the query and the share-URL path', () => {
    expect(redactUrl('/udf/a/tiles/1/2/3?n=1&token=fsh_secret&b=2')).toBe('/udf/a/tiles/1/2/3?n=1&token=[redacted]&b=2');
    expect(redactUrl('/udf/a/file?token=x&token=y')).toBe('/udf/a/file?token=[redacted]&token=[redacted]');
    expect(redactUrl('/server/v1/realtime-shared/fsh_abc/run/tiles/0/0/0?token=z')).toBe('/server/v1/realtime-shared/[redacted]/run/tiles/0/0/0?token=[redacted]');
    expect(redactUrl('/udf/a/file?mytoken=keep')).toBe('/udf/a/file?mytoken=keep');
  });
});

describe('routeOf', () => {
  it('maps paths to a bounded set of route templates', () => {
    expect(routeOf('/udf/points/tiles/1/2/3.mvt')).toEqual({ route: '/udf/{name}/tiles', udf: 'points' });
    expect(routeOf('/udf/points/run/tiles/1/2/3')).toEqual({ route: '/udf/{name}/tiles', udf: 'points' });
    expect(routeOf('/udf/points/file.csv')).toEqual({ route: '/udf/{name}/file', udf: 'points' });
    expect(routeOf('/udf/points/tilejson.json')).toEqual({ route: '/udf/{name}/tilejson.json', udf: 'points' });
    expect(routeOf('/udf/points')).toEqual({ route: '/udf/{name}', udf: 'points' });
    expect(routeOf('/server/v1/realtime-shared/fsh_x/run/file')).toEqual({ route: '/server/v1/realtime-shared/{token}/run/file' });
    expect(routeOf('/admin/cache')).toEqual({ route: '/admin/cache' });
    expect(routeOf('/metrics')).toEqual({ route: '/metrics' });
    expect(routeOf('/admin/anything-an-attacker-types')).toEqual({ route: 'other' });
    expect(routeOf('/vendor/x/y.js')).toEqual({ route: 'other' });
    expect(routeOf('/random/path/123')).toEqual({ route: 'other' });
  });
});
