// A lane in front of `ws`'s frame parser. `ws`'s Receiver is general: each
// frame costs it three or four Buffer objects, an array of fragments and an
// event. Our streams are nearly always whole binary messages of one frame
// each, so those are cut out of the socket's chunks here, as views (unmasked
// in place on the server side, as `ws` does), and handed over directly.
// Everything else goes to `ws` untouched, from the first byte of its frame, so
// the protocol (close handshake, ping/pong, limits, errors and their close
// codes) stays `ws`'s: each other data frame (large, text, a fragment) as
// exactly that frame, after which the lane goes on; control frames whole; a
// header `ws` will refuse with all that follows, until `ws` is between frames
// again at the end of a read. `pnpm fuzz` checks, differentially, that
// the lane makes no difference to what `ws` reports (packages/fuzz).
import type WebSocket from 'ws';
import { xorMask } from './mask.js';

/** Receiver states and opcodes of `ws` 8 (lib/receiver.js). */
const GET_INFO = 0;
const OPCODE_CLOSE = 0x08;
/** FIN set, RSV clear, opcode 2 (binary). */
const FIN_BINARY = 0x82;

/** Binary frames up to this payload are taken here; larger ones (a 4 MiB tensor's data frame) go to `ws`, one frame at a time. */
const FAST_MAX_PAYLOAD = 64 * 1024;
/** The longest frame header: 2 bytes, a 64-bit length and a mask. */
const MAX_HEADER = 14;

/** Frames this lane delivered, and how many of them it had to join from two or more chunks (tests read them). */
export const fastReceived = { frames: 0, joined: 0 };

/** The parts of `ws`'s Receiver we use (ws 8, tested with 8.23.0; checked before use). */
interface ReceiverInternals {
  write(chunk: Buffer): boolean;
  _state: number;
  _opcode: number;
  _fragmented: number;
  _errored: boolean;
  _bufferedBytes: number;
  _buffers: Buffer[];
  _maxPayload: number;
  _allowSynchronousEvents: boolean;
  _isServer: boolean;
  /** Writable's (public). */
  readonly writableEnded: boolean;
}

interface WsInternals {
  _receiver?: ReceiverInternals;
  _extensions?: Record<string, unknown>;
}

function receiverOf(ws: WebSocket): ReceiverInternals | undefined {
  const internals = ws as unknown as WsInternals;
  const r = internals._receiver;
  if (
    r === undefined ||
    typeof r.write !== 'function' ||
    typeof r._state !== 'number' ||
    typeof r._isServer !== 'boolean' ||
    r._allowSynchronousEvents !== true ||
    typeof r._bufferedBytes !== 'number' ||
    !Array.isArray(r._buffers) ||
    typeof r._fragmented !== 'number' ||
    typeof r._maxPayload !== 'number' ||
    // permessage-deflate sets RSV1 on compressed frames; we never offer it, but check.
    Object.keys(internals._extensions ?? {}).length !== 0
  ) {
    return undefined;
  }
  return r;
}

/**
 * Route an open connection's whole single-frame binary messages to
 * `deliver`, as views of the socket's chunks (unmasked in place when we are
 * the server), around `ws`'s parser. Returns false, changing nothing, when
 * `ws`'s internals are not what we know.
 */
export function receiveFast(ws: WebSocket, deliver: (payload: Uint8Array) => void): boolean {
  const receiver = receiverOf(ws);
  if (receiver === undefined) return false;
  // Frames from a client are masked (RFC 6455 §5.3), frames from a server are not.
  const masked = receiver._isServer;
  const maskBytes = masked ? 4 : 0;
  const wsWrite = receiver.write;
  const limit = receiver._maxPayload > 0 ? Math.min(FAST_MAX_PAYLOAD, receiver._maxPayload) : FAST_MAX_PAYLOAD;
  // `ws` between two frames: it holds no byte of a frame and has not failed or closed.
  const wsBetweenFrames = (): boolean =>
    receiver._state === GET_INFO && !receiver._errored && receiver._opcode !== OPCODE_CLOSE && receiver._bufferedBytes === 0;
  // ...and between two messages.
  const wsIdle = (): boolean => wsBetweenFrames() && receiver._fragmented === 0;
  let wsOwns = !wsIdle();
  /** An incomplete frame from earlier chunks: its first `held` bytes (a header of up to 14, or the whole frame). */
  let partial: Buffer | undefined;
  let held = 0;
  /** Bytes still to come of a frame that `ws` parses (a data frame not the lane's), after which the lane goes on. */
  let wsLeft = 0;

  // After a close frame ws ends its Receiver (a Writable) and reads no more: what followed the
  // close frame in the same chunk is dropped, as ws drops it when it reads the chunk itself.
  const forward = (bytes: Buffer): boolean => (receiver.writableEnded ? true : wsWrite.call(receiver, bytes));

  /**
   * What the frame at `at` is: its length (header + payload) if this lane takes it (a whole
   * binary message up to `limit`, between messages); minus its length if `ws` parses exactly
   * this frame, after which the lane goes on (any other data frame that ws may accept: large,
   * text, a fragment); -1 if `ws` takes everything from here until it is idle again (a header
   * ws will refuse); 0 if the header is incomplete.
   */
  const measure = (b: Uint8Array, at: number, end: number): number => {
    if (end - at < 2) return 0;
    const b0 = b[at]!;
    const b1 = b[at + 1]!;
    if (((b1 & 0x80) !== 0) !== masked) return -1; // a mask where none belongs, or none where one must be: `ws` reports it
    const len = b1 & 0x7f;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return -1; // reserved bits (no extension is negotiated)
    if (opcode >= 8) {
      // A control frame already complete in this chunk is handed to `ws` whole (below). Anything
      // else, an incomplete control frame included, is `ws`'s from its first byte: ws checks a
      // header as soon as it has it (a close frame of length 1 is an error before its payload comes).
      if ((b0 & 0x80) === 0 || opcode > 10 || len > 125) return -1;
      return end - at >= 2 + maskBytes + len ? 2 + maskBytes + len : -1;
    }
    // Data: a continuation exactly while ws is inside a fragmented message; text or binary otherwise.
    if (opcode > 2 || (opcode === 0) !== (receiver._fragmented !== 0)) return -1;
    let payload = len;
    let h = 2;
    if (len === 126) {
      if (end - at < 4) return 0;
      payload = (b[at + 2]! << 8) | b[at + 3]!;
      h = 4;
    } else if (len === 127) {
      if (end - at < 10) return 0;
      const hi = ((b[at + 2]! << 24) | (b[at + 3]! << 16) | (b[at + 4]! << 8) | b[at + 5]!) >>> 0;
      if (hi > 0x1fffff) return -1; // beyond 2^53 - 1: `ws` refuses it
      payload = hi * 2 ** 32 + (((b[at + 6]! << 24) | (b[at + 7]! << 16) | (b[at + 8]! << 8) | b[at + 9]!) >>> 0);
      h = 10;
    }
    const n = h + maskBytes + payload;
    if (b0 === FIN_BINARY && payload <= limit && h < 10) return n;
    // `ws` parses this one frame, unless it is over ws's limit (ws closes with 1009).
    return receiver._maxPayload > 0 && payload > receiver._maxPayload ? -1 : -n;
  };

  /** Deal with the complete frame `b[at, at + n)`; false when `ws` took over. */
  const frame = (b: Buffer, at: number, n: number): boolean => {
    if (b[at] === FIN_BINARY) {
      fastReceived.frames++;
      // The header as sent: a 16-bit length may be used for a short payload too.
      const h = (b[at + 1]! & 0x7f) === 126 ? 4 : 2;
      const start = at + h + maskBytes;
      if (masked) xorMask(b, start, at + n, at + h);
      deliver(new Uint8Array(b.buffer, b.byteOffset + start, at + n - start));
      return true;
    }
    // A control frame: `ws` answers pings, records pongs and runs the close handshake.
    forward(b.subarray(at, at + n));
    if (wsBetweenFrames()) return true;
    wsOwns = true;
    return false;
  };

  receiver.write = (chunk: Buffer): boolean => {
    if (wsOwns) {
      const ok = forward(chunk);
      if (wsBetweenFrames()) wsOwns = false;
      return ok;
    }
    let at = 0;
    const end = chunk.length;
    let ok = true;
    if (partial !== undefined) {
      // Complete the frame begun in an earlier chunk: its header first, then its payload.
      let n = measure(partial, 0, held);
      if (n === 0) {
        const take = Math.min(MAX_HEADER - held, end);
        partial.set(chunk.subarray(0, take), held);
        n = measure(partial, 0, held + take);
        if (n === 0) {
          held += take;
          return true;
        }
        if (n > 0) {
          const whole = Buffer.allocUnsafe(n);
          whole.set(partial.subarray(0, held));
          partial = whole;
        }
      }
      if (n < 0) {
        // `ws`'s: the bytes held, then this chunk (a frame it parses goes on into the chunk, wsLeft below).
        const head = partial.subarray(0, held);
        partial = undefined;
        if (n === -1) {
          wsOwns = true;
          forward(head);
          return forward(chunk);
        }
        ok = forward(head);
        wsLeft = -n - held;
      } else {
        const take = Math.min(n - held, end);
        partial.set(chunk.subarray(0, take), held);
        held += take;
        if (held < n) return true;
        const whole = partial;
        partial = undefined;
        fastReceived.joined++;
        at = take;
        if (!frame(whole, 0, n)) return at < end ? forward(chunk.subarray(at)) : true;
      }
    }
    for (;;) {
      if (wsLeft > 0) {
        // The rest of a frame `ws` parses; once it has all of it, `ws` is between frames again (else it keeps what follows).
        const k = Math.min(wsLeft, end - at);
        ok = forward(chunk.subarray(at, at + k)) && ok;
        wsLeft -= k;
        at += k;
        if (wsLeft > 0) return ok;
        if (!wsBetweenFrames()) {
          wsOwns = true;
          return at < end ? forward(chunk.subarray(at)) : ok;
        }
      }
      if (at >= end) return ok;
      const n = measure(chunk, at, end);
      if (n === -1) {
        wsOwns = true;
        return forward(chunk.subarray(at)) && ok;
      }
      if (n < -1) {
        wsLeft = -n;
        continue;
      }
      if (n === 0 || at + n > end) {
        // Keep the incomplete frame: a copy of at most one frame per chunk.
        const rest = end - at;
        partial = Buffer.allocUnsafe(n === 0 ? MAX_HEADER : n);
        partial.set(chunk.subarray(at));
        held = rest;
        return ok;
      }
      if (!frame(chunk, at, n)) {
        at += n;
        return at < end ? forward(chunk.subarray(at)) : ok;
      }
      at += n;
    }
  };
  return true;
}
