import { type ErrorCode, HarmonicsError } from '@harmonics/core';
import { type ServiceError, type StatusObject, status as Status } from '@grpc/grpc-js';

/** The `details` of the status a server answers a call without `magic: HGRP` with. */
export const BAD_HANDSHAKE = 'bad handshake';
/** The `details` of the status a closing GrpcServer ends calls with. */
export const SHUTTING_DOWN = 'server shutting down';

/** Status metadata key carrying our error code, so clients rethrow the exact `HarmonicsError`. */
export const ERROR_CODE_KEY = 'harmonics-error-code';

/** The status as an error; a `HarmonicsError` with the server's code when its trailers carry one. */
export function withErrorCode(st: StatusObject): ServiceError | HarmonicsError {
  const code = st.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof code === 'string') return new HarmonicsError(code as ErrorCode, st.details);
  return Object.assign(new Error(`${Status[st.code]}: ${st.details}`), st) as ServiceError;
}

/** The error of a call that ended with a non-OK status, or a local failure. */
export function callError(err: unknown, what: string, target: string, established: boolean): HarmonicsError {
  if (err instanceof HarmonicsError) return err;
  const e = err as Partial<ServiceError>;
  if (e?.code === Status.INVALID_ARGUMENT) {
    return new HarmonicsError('ERR_PROTOCOL', `${what} to ${target}: the server refused a message: ${e.details}`, { cause: err });
  }
  if (typeof e?.code !== 'number') {
    return new HarmonicsError('ERR_CONNECTION_LOST', `${what} to ${target} failed: ${String(err)}`, { cause: err });
  }
  const details = e.details || Status[e.code];
  const [code, hint] = mapStatus(e.code, details, established);
  return new HarmonicsError(code, `${what} to ${target} failed with ${Status[e.code]}: ${details}${hint}`, {
    cause: err,
  });
}

function mapStatus(code: Status, details: string, established: boolean): [ErrorCode, string] {
  switch (code) {
    case Status.PERMISSION_DENIED:
      return ['ERR_HANDSHAKE', details === BAD_HANDSHAKE ? ' (the server wants metadata magic: HGRP; is it a Harmonics TensorService?)' : ''];
    case Status.UNAUTHENTICATED:
      return ['ERR_HANDSHAKE', ' (check the credentials or the metadata hook)'];
    case Status.RESOURCE_EXHAUSTED:
      return ['ERR_TOO_LARGE', ' (raise maxMessageBytes on both sides)'];
    case Status.DEADLINE_EXCEEDED:
      return ['ERR_TIMEOUT', ''];
    case Status.UNIMPLEMENTED:
      return ['ERR_PROTOCOL', ' (the server does not serve harmonics.TensorService)'];
    case Status.INTERNAL:
      // grpc-js reports a failed (de)serializer and HTTP/2 errors as INTERNAL.
      return ['ERR_PROTOCOL', ''];
    case Status.UNAVAILABLE:
      return established || details === SHUTTING_DOWN
        ? ['ERR_CONNECTION_LOST', ' (the server went away; set timeoutMs to reconnect automatically)']
        : details.includes('ECONNRESET')
          ? ['ERR_CONNECT', ' (the server reset the connection: it may be at its connection limit, maxConnections)']
          : ['ERR_CONNECT', ' (is a GrpcServer listening there?)'];
    default:
      return ['ERR_CONNECTION_LOST', ''];
  }
}

/** Statuses after which a client with `timeoutMs` opens a new call instead of failing. */
export function isRetryable(err: unknown): boolean {
  const code = (err as Partial<ServiceError>)?.code;
  return (
    code === Status.UNAVAILABLE ||
    code === Status.DEADLINE_EXCEEDED ||
    code === Status.CANCELLED ||
    code === Status.ABORTED ||
    code === Status.UNKNOWN ||
    code === Status.INTERNAL
  );
}
