import { type ErrorCode, HarmonicsError } from '@harmonics/core';
import { Metadata, type ServiceError, type StatusObject, status as Status } from '@grpc/grpc-js';

/** Status metadata key carrying our error code, so our clients rethrow the exact `HarmonicsError`. */
export const ERROR_CODE_KEY = 'harmonics-error-code';
/**
 * Trailer our server ends a DoGet with when the stream goes on with another
 * schema (dtype or shape): a FlightProducer then opens the next DoGet with
 * the same ticket. Other clients see a complete stream of the first schema.
 */
export const CONTINUES_KEY = 'harmonics-continues';
/** The `details` of the status a closing server ends calls with. */
export const SHUTTING_DOWN = 'server shutting down';

export function statusMetadata(errorCode?: string, extra?: Record<string, string>): Metadata {
  const md = new Metadata();
  if (errorCode !== undefined) md.set(ERROR_CODE_KEY, errorCode);
  for (const [k, v] of Object.entries(extra ?? {})) md.set(k, v);
  return md;
}

/** The status as an error; a `HarmonicsError` with the server's code when its trailers carry one. */
export function withErrorCode(st: StatusObject | ServiceError): ServiceError | HarmonicsError {
  const code = st.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof code === 'string') return new HarmonicsError(code as ErrorCode, st.details);
  return Object.assign(new Error(`${Status[st.code]}: ${st.details}`), st) as ServiceError;
}

/** The error of a call that ended with a non-OK status, or a local failure. */
export function callError(err: unknown, what: string, target: string, established: boolean): HarmonicsError {
  if (err instanceof HarmonicsError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e?.code !== 'number') {
    return new HarmonicsError('ERR_CONNECTION_LOST', `${what} to ${target} failed: ${String(err)}`, { cause: err });
  }
  const fromServer = e.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof fromServer === 'string') return new HarmonicsError(fromServer as ErrorCode, `${what} to ${target}: ${e.details}`, { cause: err });
  const details = e.details || Status[e.code];
  const [code, hint] = mapStatus(e.code, details, established);
  return new HarmonicsError(code, `${what} to ${target} failed with ${Status[e.code]}: ${details}${hint}`, { cause: err });
}

function mapStatus(code: Status, details: string, established: boolean): [ErrorCode, string] {
  switch (code) {
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return ['ERR_HANDSHAKE', ' (check the token, or the username and password of the handshake)'];
    case Status.RESOURCE_EXHAUSTED:
      return ['ERR_TOO_LARGE', ' (raise maxMessageBytes on both sides)'];
    case Status.DEADLINE_EXCEEDED:
      return ['ERR_TIMEOUT', ''];
    case Status.UNIMPLEMENTED:
      return ['ERR_PROTOCOL', ' (is it an Arrow Flight server?)'];
    case Status.INVALID_ARGUMENT:
    case Status.INTERNAL:
      return ['ERR_PROTOCOL', ''];
    case Status.NOT_FOUND:
      return ['ERR_PROTOCOL', ' (no such flight on that server)'];
    case Status.UNAVAILABLE:
      return established || details === SHUTTING_DOWN
        ? ['ERR_CONNECTION_LOST', ' (the server went away)']
        : details.includes('ECONNRESET')
          ? ['ERR_CONNECT', ' (the server reset the connection: it may be at its connection limit, maxConnections)']
          : ['ERR_CONNECT', ' (is a Flight server listening there?)'];
    default:
      return ['ERR_CONNECTION_LOST', ''];
  }
}
