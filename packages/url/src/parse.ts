import { HarmonicsError, type Target } from '@harmonics/core';

/** How a scheme's target is written. */
type Shape = 'host-port' | 'path' | 'fd';

const SHAPES: Readonly<Record<string, Shape>> = {
  file: 'path',
  socket: 'fd',
  tcp: 'host-port',
  unix: 'path',
  grpc: 'host-port',
  ws: 'host-port',
  wss: 'host-port',
  flight: 'host-port',
  nats: 'host-port',
};

/** Every scheme `makeProducer`/`makeConsumer` understand (a transport passed in `{ transports }` may add more). */
export const KNOWN_SCHEMES: readonly string[] = Object.keys(SHAPES);

const DEFAULT_PORTS: Readonly<Record<string, number>> = { ws: 80, wss: 443, nats: 4222 };

function fail(href: string, why: string): HarmonicsError {
  return new HarmonicsError('ERR_UNSUPPORTED_SCHEME', `target "${href}": ${why}`);
}

/**
 * Parse a target string (`tcp:HOST:PORT`, `tcp://HOST:PORT`, `file:PATH`,
 * `ws://HOST:PORT/PATH`, …; DESIGN §8) into a {@link Target}. Throws
 * `ERR_UNSUPPORTED_SCHEME` naming the target for an unknown scheme, a missing
 * or out-of-range port, a malformed host, an empty path or a bad query.
 * `extraSchemes` are schemes of explicitly passed transports, parsed as
 * `host-port` targets.
 */
export function parseTarget(href: string, extraSchemes: readonly string[] = []): Target {
  if (typeof href !== 'string') throw new HarmonicsError('ERR_UNSUPPORTED_SCHEME', `a target must be a string, got ${typeof href}`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(href);
  const scheme = m ? m[1]!.toLowerCase() : '';
  const shape: Shape | undefined = SHAPES[scheme] ?? (extraSchemes.includes(scheme) ? 'host-port' : undefined);
  if (shape === undefined) {
    const known = [...KNOWN_SCHEMES, ...extraSchemes.filter((s) => !KNOWN_SCHEMES.includes(s))];
    throw fail(
      href,
      `${m ? `unknown scheme "${scheme}:"` : 'no scheme'}; expected one of ${known.map((s) => `${s}:`).join(' ')} (e.g. tcp:127.0.0.1:9000 or file:out.bin)`,
    );
  }
  let rest = href.slice(m![0].length);
  const slashes = rest.startsWith('//');
  if (slashes) rest = rest.slice(2);
  // In the opaque form (file:a#1.bin) a path is taken literally up to the query.
  if ((slashes || shape !== 'path') && rest.includes('#')) {
    throw fail(href, 'a fragment (#…) has no meaning here; percent-encode a literal # as %23');
  }
  const q = rest.indexOf('?');
  const params = q >= 0 ? parseQuery(href, rest.slice(q + 1)) : {};
  if (q >= 0) rest = rest.slice(0, q);

  if (shape === 'path') return { href, scheme, path: parsePath(href, scheme, rest, slashes), params };
  if (shape === 'fd') {
    if (!/^\d+$/.test(rest) || !Number.isSafeInteger(Number(rest)))
      throw fail(href, `expected ${scheme}:FD with FD a file descriptor number, e.g. ${scheme}:3`);
    return { href, scheme, fd: Number(rest), params };
  }

  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash) : undefined;
  const { host, port } = parseAuthority(href, scheme, authority, params);
  const target: { -readonly [K in keyof Target]: Target[K] } = { href, scheme, host, port, params };
  if (scheme === 'ws' || scheme === 'wss') target.path = path ?? '/';
  else if (scheme === 'flight') {
    const stream = path === undefined ? '' : decode(href, path.slice(1));
    if (stream.includes('/')) throw fail(href, `a flight stream name is one path segment (flight:HOST:PORT/STREAM); got "${stream}"`);
    if (stream !== '') target.path = stream;
  } else if (scheme === 'nats') {
    const subject = path === undefined ? '' : decode(href, path.slice(1));
    if (subject === '' || /[\s/]/.test(subject))
      throw fail(href, `expected nats://HOST:PORT/SUBJECT with a NATS subject (no spaces or "/"), e.g. nats://127.0.0.1:4222/activations`);
    target.path = subject;
  } else if (path !== undefined && path !== '/') {
    throw fail(href, `${scheme}: targets have no path (got "${path}"); write ${scheme}:HOST:PORT`);
  }
  return target;
}

function parsePath(href: string, scheme: string, rest: string, slashes: boolean): string {
  let path = rest;
  if (slashes) {
    // scheme:///abs/path or scheme://localhost/abs/path, percent-decoded as URLs are.
    if (path.startsWith('localhost/')) path = path.slice('localhost'.length);
    if (!path.startsWith('/')) {
      throw fail(href, `${scheme}:// must be followed by an absolute path (${scheme}:///tmp/x.bin); for a relative path write ${scheme}:x.bin`);
    }
    path = decode(href, path);
  }
  if (path === '') throw fail(href, `missing path; expected ${scheme}:PATH`);
  return path;
}

function parseAuthority(href: string, scheme: string, authority: string, params: Record<string, string>): { host: string; port: number } {
  if (authority.includes('@')) throw fail(href, 'user information (user@host) is not supported; pass credentials in the options');
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw fail(href, 'unclosed "[" in an IPv6 host; write [::1]:9000');
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw fail(href, `unexpected "${after}" after the IPv6 host; write [${host}]:PORT`);
    portText = after === '' ? undefined : after.slice(1);
    if (!/^[0-9A-Fa-f:.]+$/.test(host) || host.split(':').length < 3) throw fail(href, `"${host}" is not an IPv6 address`);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (host.includes(':')) throw fail(href, `IPv6 hosts go in brackets: ${scheme}://[${host}]:PORT`);
    if (host === '') throw fail(href, `missing host; expected ${scheme}:HOST:PORT`);
    if (!isHostname(host)) throw fail(href, `"${host}" is not a valid host name or IPv4 address`);
  }
  if (portText === undefined || portText === '') {
    const fallback = DEFAULT_PORTS[scheme];
    if (fallback === undefined) throw fail(href, `missing port; expected ${scheme}:HOST:PORT, e.g. ${scheme}:127.0.0.1:9000`);
    return { host, port: fallback };
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  const listening = params.listen !== undefined && params.listen !== 'false' && params.listen !== '0';
  if (!(port >= 1 && port <= 65535) && !(port === 0 && listening)) {
    throw fail(href, `port "${portText}" is out of range; use 1 to 65535${listening ? '' : ' (0, pick a free port, only with ?listen)'}`);
  }
  return { host, port };
}

/** Host names (RFC 1123 labels, underscores tolerated) and dotted IPv4. */
function isHostname(host: string): boolean {
  if (host.length > 253) return false;
  if (/^\d+(\.\d+){3}$/.test(host)) return host.split('.').every((o) => Number(o) <= 255);
  return host.split('.').every((label) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

function parseQuery(href: string, query: string): Record<string, string> {
  const params: Record<string, string> = {};
  if (query === '') return params;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(href, eq >= 0 ? part.slice(0, eq) : part);
    const value = eq >= 0 ? decode(href, part.slice(eq + 1)) : '';
    if (Object.hasOwn(params, name)) throw fail(href, `parameter "${name}" is given twice`);
    params[name] = value;
  }
  return params;
}

function decode(href: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw fail(href, `bad percent-encoding in "${text}"`);
  }
}
