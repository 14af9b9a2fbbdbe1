import { HarmonicsError } from '@harmonics/core';

/** `ws://host:port/path` from the constructor's arguments: a URL, or host, port and path. */
export function targetUrl(hostOrUrl: string, port: number | undefined, path: string | undefined, secure: boolean): string {
  if (hostOrUrl.includes('://')) {
    let url: URL;
    try {
      url = new URL(hostOrUrl);
    } catch {
      throw new HarmonicsError('ERR_INVALID_ARGUMENT', `"${hostOrUrl}" is not a valid URL; expected ws://HOST:PORT/PATH or wss://…`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new HarmonicsError('ERR_INVALID_ARGUMENT', `"${hostOrUrl}": WebSocket URLs start with ws:// or wss://, not ${url.protocol}//`);
    }
    return url.href;
  }
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HarmonicsError('ERR_INVALID_ARGUMENT', `port must be an integer from 1 to 65535, got ${port}`);
  }
  const host = hostOrUrl.includes(':') && !hostOrUrl.startsWith('[') ? `[${hostOrUrl}]` : hostOrUrl;
  const p = path === undefined || path === '' ? '/' : path.startsWith('/') ? path : `/${path}`;
  return `${secure ? 'wss' : 'ws'}://${host}:${port}${p}`;
}

/** Sorts the overloaded constructor arguments `(url, options?)` / `(host, port, path?, options?)`. */
export function splitArgs<O extends object>(
  a: string,
  b: number | O | undefined,
  c: string | O | undefined,
  d: O | undefined,
): { port: number | undefined; path: string | undefined; options: O } {
  if (typeof b === 'number') {
    if (typeof c === 'string' || c === undefined) return { port: b, path: c, options: (d ?? {}) as O };
    return { port: b, path: undefined, options: c };
  }
  return { port: undefined, path: undefined, options: (b ?? {}) as O };
}
