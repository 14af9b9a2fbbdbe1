import { HarmonicsError } from '@harmonics/core';

/** Where a client connects: a TCP address or a Unix socket path. */
export type Endpoint = { host: string; port: number } | { path: string };

/** `tcp 127.0.0.1:9000`, `tcp [::1]:9000` or `unix /tmp/x.sock`, for messages. */
export function describeEndpoint(e: Endpoint): string {
  if ('path' in e) return `unix ${e.path}`;
  return `tcp ${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

const HINTS: Record<string, string> = {
  ECONNREFUSED: 'connection refused; is a server listening there?',
  ECONNRESET:
    'the server reset the connection: at its connection limit, or refusing what we sent (a TLS server refuses plaintext: connect with { tls })',
  ENOENT: 'no such socket file; is the server running?',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  EADDRINUSE: 'address already in use; pick another port or stop the other server',
  EACCES: 'permission denied',
};

/** TLS verification failures: the peer's certificate or handshake was refused. */
function isTlsFailure(code: string | undefined): boolean {
  return (
    code !== undefined &&
    (code.startsWith('ERR_TLS') ||
      code.startsWith('ERR_SSL') ||
      code.startsWith('CERT_') ||
      code.includes('CERT') ||
      code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
      code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY')
  );
}

/** A failure to connect or listen: `ERR_HANDSHAKE` for TLS verification failures, else `ERR_CONNECT`, naming the endpoint. */
export function connectError(cause: unknown, e: Endpoint, verb = 'connect to'): HarmonicsError {
  if (cause instanceof HarmonicsError) return cause;
  const code = (cause as NodeJS.ErrnoException)?.code;
  const reason = `${code ?? 'error'}${code && HINTS[code] ? ` (${HINTS[code]})` : `: ${(cause as Error)?.message ?? cause}`}`;
  if (isTlsFailure(code)) {
    return new HarmonicsError('ERR_HANDSHAKE', `TLS handshake with ${describeEndpoint(e)} failed: ${reason}`, { cause });
  }
  return new HarmonicsError('ERR_CONNECT', `cannot ${verb} ${describeEndpoint(e)}: ${reason}`, { cause });
}

const LOST_HINTS: Record<string, string> = {
  ECONNRESET: 'the peer reset the connection: it crashed, or refused what we sent (a TLS server refuses plaintext: connect with { tls })',
  EPIPE: 'the peer closed the connection before taking everything',
  ETIMEDOUT: 'the peer stopped answering (TCP keepalive or retransmissions timed out)',
};

/** An established connection that failed: `ERR_HANDSHAKE` for a TLS alert from the peer, else `ERR_CONNECTION_LOST`. */
export function lostError(cause: unknown, where: string): HarmonicsError {
  if (cause instanceof HarmonicsError) return cause;
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code !== undefined && code.startsWith('ERR_SSL_')) {
    const hint = code.includes('CERTIFICATE_REQUIRED') ? ' (the server requires a client certificate: pass tls: { cert, key })' : '';
    return new HarmonicsError('ERR_HANDSHAKE', `the TLS peer refused the connection ${where}: ${code}${hint}`, { cause });
  }
  const reason = code !== undefined && LOST_HINTS[code] ? `${code} (${LOST_HINTS[code]})` : (code ?? (cause as Error)?.message ?? String(cause));
  return new HarmonicsError('ERR_CONNECTION_LOST', `the connection ${where} was lost: ${reason}`, { cause });
}
