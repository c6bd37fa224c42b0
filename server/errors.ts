/**
 * One error class per HTTP outcome, and one table that maps them to status codes.
 * Any stage may throw these; only the HTTP layer turns them into responses.
 */

export type ErrorCode =
  | 'bad_request'
  | 'invalid_tile'
  | 'invalid_parameter'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'not_found'
  | 'unknown_udf'
  | 'not_acceptable'
  | 'conflict'
  | 'uri_too_long'
  | 'udf_rejected'
  | 'overloaded'
  | 'result_too_large'
  | 'udf_error'
  | 'udf_load_error'
  | 'udf_timeout'
  | 'udf_unavailable'
  | 'worker_crashed'
  | 'internal_error';

/** The one status table. */
export const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_tile: 400,
  invalid_parameter: 400,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  not_found: 404,
  unknown_udf: 404,
  not_acceptable: 406,
  conflict: 409,
  uri_too_long: 414,
  udf_rejected: 400,
  overloaded: 503,
  result_too_large: 500,
  udf_error: 500,
  udf_load_error: 500,
  worker_crashed: 500,
  internal_error: 500,
  udf_unavailable: 503,
  udf_timeout: 504,
};

/** Base class: a code, a sentence for the user, optional details (logs, traceback). */
export class TilesmithError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  /** The run that failed (sent as `X-Run-Id`), when the error came from a UDF run. */
  runId?: string;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'TilesmithError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return STATUS[this.code];
  }
  /** Response headers this error adds (e.g. `Retry-After`). */
  get headers(): Record<string, string> | undefined {
    return undefined;
  }
}

/** 409: the request conflicts with the resource's state (a job not finished, an environment in use). */
export class ConflictError extends TilesmithError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, details);
    this.name = 'ConflictError';
  }
}

/** 400: something the user sent is malformed. */
export class BadRequestError extends TilesmithError {
  constructor(message: string, code: 'bad_request' | 'invalid_tile' | 'invalid_parameter' | 'uri_too_long' = 'bad_request', details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'BadRequestError';
  }
}

/** 404 */
export class NotFoundError extends TilesmithError {
  constructor(message: string, code: 'not_found' | 'unknown_udf' = 'not_found') {
    super(code, message);
    this.name = 'NotFoundError';
  }
}

/** 406: the format does not fit the result kind. */
export class NotAcceptableError extends TilesmithError {
  constructor(message: string, accepted: string[]) {
    super('not_acceptable', message, { accepted });
    this.name = 'NotAcceptableError';
  }
}

/** 500: the UDF threw, or returned something that cannot be served. */
export class UdfError extends TilesmithError {
  constructor(message: string, details?: { logs?: string[]; traceback?: string; [k: string]: unknown }) {
    super('udf_error', message, details);
    this.name = 'UdfError';
  }
}

/** 500: the UDF's code could not be loaded (syntax error, failing import, bad options). */
export class UdfLoadError extends TilesmithError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('udf_load_error', message, details);
    this.name = 'UdfLoadError';
  }
}

/**
 * 503: this server cannot run the UDF right now, whatever its code — its interpreter or
 * function environment is missing, its workers cannot start, or its runtime is shutting down.
 */
export class UdfUnavailableError extends TilesmithError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('udf_unavailable', message, details);
    this.name = 'UdfUnavailableError';
  }
}

/**
 * The error a request for a UDF that did not load answers: a runtime only says why it failed
 * (`LoadedUdf.loadError`, `unavailable` when the server rather than the code is at fault), and
 * this table decides the status.
 */
export function udfLoadFailure(name: string, loadError?: { message: string; detail?: string; unavailable?: boolean }): TilesmithError {
  const message = loadError?.message ?? `UDF '${name}' has no runtime`;
  const details = loadError?.detail !== undefined ? { detail: loadError.detail } : undefined;
  return loadError?.unavailable ? new UdfUnavailableError(message, details) : new UdfLoadError(message, details);
}

/** 500: a Python worker died during the call. */
export class WorkerCrashedError extends TilesmithError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('worker_crashed', message, details);
    this.name = 'WorkerCrashedError';
  }
}

/** 504: the UDF ran past its timeout. */
export class UdfTimeoutError extends TilesmithError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('udf_timeout', message, details);
    this.name = 'UdfTimeoutError';
  }
}

/**
 * A 4xx answer chosen by a UDF: `throw new HttpError(404, 'No parcel with that id.')`.
 * `BadRequestError` is the 400 case. The message is the UDF's sentence for its user; the
 * response is never cached.
 * @example throw new HttpError(422, 'min_area must be smaller than max_area.');
 */
export class HttpError extends TilesmithError {
  readonly httpStatus: number;
  constructor(status: number, message: string) {
    super('udf_rejected', message);
    if (!Number.isInteger(status) || status < 400 || status > 499) {
      throw new RangeError(`HttpError takes a 4xx status, got ${status}`);
    }
    this.name = 'HttpError';
    this.httpStatus = status;
  }
  override get status(): number {
    return this.httpStatus;
  }
}

/** 503 with `Retry-After`: too many computations are running or waiting. */
export class OverloadedError extends TilesmithError {
  readonly retryAfter: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('overloaded', message);
    this.name = 'OverloadedError';
    this.retryAfter = retryAfterSeconds;
  }
  override get headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfter) };
  }
}

/**
 * 503 with `Retry-After`: a UDF crashed its Python worker several times in a row and rests for
 * a cool-down before it is tried again (so no client can take it down for good).
 */
export class UdfCoolingDownError extends TilesmithError {
  readonly retryAfter: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('udf_unavailable', message, { retryAfter: retryAfterSeconds });
    this.name = 'UdfCoolingDownError';
    this.retryAfter = retryAfterSeconds;
  }
  override get headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfter) };
  }
}

/**
 * 401: the request carries no usable token for something private. `WWW-Authenticate` says
 * how to authenticate (RFC 6750): `Bearer realm="tilesmith"`, plus `error="invalid_token"`
 * when a token was given but is unknown, expired or revoked.
 */
export class UnauthorizedError extends TilesmithError {
  readonly invalidToken: boolean;
  constructor(message: string, invalidToken = false) {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
    this.invalidToken = invalidToken;
  }
  override get headers(): Record<string, string> {
    return { 'WWW-Authenticate': this.invalidToken ? 'Bearer realm="tilesmith", error="invalid_token"' : 'Bearer realm="tilesmith"' };
  }
}

/** 403: the token is valid but its scope does not cover this UDF or endpoint. */
export class ForbiddenError extends TilesmithError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** 429 with `Retry-After`: this token or address started too many computations recently. */
export class RateLimitedError extends TilesmithError {
  readonly retryAfter: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('rate_limited', message, { retryAfter: retryAfterSeconds });
    this.name = 'RateLimitedError';
    this.retryAfter = retryAfterSeconds;
  }
  override get headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfter) };
  }
}

/** Wraps anything thrown into a TilesmithError (unknown errors become 500 internal_error). */
export function toTilesmithError(err: unknown): TilesmithError {
  if (err instanceof TilesmithError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TilesmithError('internal_error', `Internal error: ${message}`);
}
