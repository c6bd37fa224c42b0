/**
 * UDF names are URL path segments and cache-key parts: keep them boring. In its own module
 * (no Node API) so the runtime-neutral core can check names without the Node registry.
 */
export const UDF_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
