// Writing gRPC-framed messages straight to the HTTP/2 stream under a grpc-js
// call, so large tensors go out as they are instead of being copied into a
// new buffer per message by grpc-js (fresh memory is what limits throughput
// on the machines we measured). This reaches into grpc-js 1.14 internals
// (a ^1.14.7 range, tested with 1.14.7); every use checks the shape it expects and falls back to
// grpc-js's own path when it differs, and tests check that the direct path is
// taken, so an upgrade that moves the internals shows up as a failing test,
// not as silent slowness. A call uses one path for all its messages, so they
// stay in order; grpc-js ends the stream (half-close, trailers) after what was
// written.
import type { ClientDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import { LazyFlightData } from './flight-data.js';

export interface DirectStream {
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

/** Messages written each way (tests check that the direct paths are taken). */
export const directWrites = { server: 0, client: 0 };

function writable(h2: unknown): DirectStream | undefined {
  const s = h2 as { write?: unknown; destroyed?: boolean } | undefined;
  return s !== undefined && typeof s.write === 'function' && s.destroyed !== true ? (s as DirectStream) : undefined;
}

/** The HTTP/2 stream under a server call without interceptors, once its response headers went out. */
export function serverStreamOf(call: ServerWritableStream<Buffer, Buffer>): DirectStream | undefined {
  const base = (call as unknown as { call?: { stream?: unknown; metadataSent?: boolean } }).call;
  return base?.metadataSent === true ? writable(base.stream) : undefined;
}

/**
 * The HTTP/2 stream under a client call, when the channel runs without
 * retries (`grpc.enable_retries: 0`, so grpc-js never replays messages it did
 * not see) and the call has its one attempt on a connection.
 */
export function clientStreamOf(call: ClientDuplexStream<Buffer, Buffer>): DirectStream | undefined {
  const resolving = (call as unknown as { call?: { call?: { child?: unknown } } }).call?.call;
  const retrying = resolving?.child as { state?: string; underlyingCalls?: { call?: { child?: { http2Stream?: unknown } } }[] } | undefined;
  if (retrying?.state !== 'NO_RETRY' || retrying.underlyingCalls?.length !== 1) return undefined;
  return writable(retrying.underlyingCalls[0].call?.child?.http2Stream);
}

/** Wait (up to `ms`) for a client call to have its HTTP/2 stream; undefined when it does not come (then use grpc-js). */
export async function waitForClientStream(
  call: ClientDuplexStream<Buffer, Buffer>,
  ended: () => boolean,
  ms = 2000,
): Promise<DirectStream | undefined> {
  const until = Date.now() + ms;
  for (let i = 0; !ended() && Date.now() < until; i++) {
    const s = clientStreamOf(call);
    if (s !== undefined) return s;
    await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 5)));
  }
  return undefined;
}

/** gRPC's message prefix: not compressed, then the length (big-endian). */
export function grpcPrefix(length: number): Uint8Array {
  const p = new Uint8Array(5);
  new DataView(p.buffer).setUint32(1, length);
  return p;
}

/**
 * Write one FlightData message, gRPC-framed, to `h2`: a large one as its
 * prefix and then the tensors' own memory, a small one (already a Buffer)
 * after its 5-byte prefix. `callback` runs once all of it is written out.
 */
export function writeMessage(h2: DirectStream, msg: Buffer | LazyFlightData, callback: () => void): void {
  const chunks = msg instanceof LazyFlightData ? msg.framedChunks() : [grpcPrefix(msg.length), msg];
  for (let i = 0; i < chunks.length - 1; i++) h2.write(chunks[i]);
  h2.write(chunks[chunks.length - 1], callback);
}
