import { HarmonicsError, encodeTensorInto } from '@harmonics/core';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { SocketAdapter } from './channel.js';
import { receiveFast } from './fast-receive.js';
import { writeMaskKey, xorMask } from './mask.js';

/** Keepalive by default: a ping after 20 s of silence, the connection dropped after 60 s. */
export const DEFAULT_KEEPALIVE: KeepAlive = { keepAliveMs: 20_000, idleTimeoutMs: 60_000 };

/** The keepalive settings of client or server options. */
export function keepAliveOf(options: { keepAliveMs?: number; idleTimeoutMs?: number }): KeepAlive {
  const keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEPALIVE.keepAliveMs;
  return { keepAliveMs, idleTimeoutMs: options.idleTimeoutMs ?? Math.max(DEFAULT_KEEPALIVE.idleTimeoutMs, 3 * keepAliveMs) };
}

const SEND_OPTIONS = { binary: true };
const FIRST_FRAME = { binary: true, fin: false };
const LAST_FRAME = { binary: true, fin: true };
/** Outgoing memory is carved from blocks this large (not zero-filled, one allocation per block). */
const BLOCK_BYTES = 256 * 1024;
/** Records up to this size are framed by us (a 2- or 4-byte frame header, plus a masking key from a client); larger ones go through ws. */
const OWN_FRAMING_MAX = 0xffff;

/**
 * Idle blocks kept for reuse per connection: enough for the consumer's
 * default high-water mark (4 MiB) in flight, since a burst up to it follows
 * each drain.
 */
const SPARE_BLOCKS = 17;

/** Small records this module framed itself, and how many of those it masked (tests read them). */
export const framedHere = { frames: 0, masked: 0 };

/** A block of outgoing frames: `pending` socket writes still reference it; `full` once no more frames go in. */
interface Block {
  buf: Buffer;
  pending: number;
  full: boolean;
}

/** The parts of a `ws` WebSocket we reach into (ws 8, tested with 8.23.0). */
interface WsInternals {
  _isServer?: boolean;
  _socket?: Socket;
  _sender?: { _state: number; _queue: unknown[]; _firstFragment: boolean };
}

function isTlsFailure(code: string | undefined): boolean {
  return (
    code !== undefined &&
    (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  );
}

/** The error of a connection that never opened: refused upgrade or TLS is ERR_HANDSHAKE, a busy server (503) or anything else ERR_CONNECT. */
function openError(err: Error & { code?: string }, where: string): HarmonicsError {
  if (/Unexpected server response: 503/.test(err.message)) {
    return new HarmonicsError('ERR_CONNECT', `${where} is at its connection limit (HTTP 503); try again later`, { cause: err });
  }
  if (/Unexpected server response/.test(err.message)) {
    return new HarmonicsError(
      'ERR_HANDSHAKE',
      `${where} refused the WebSocket upgrade (${err.message}); check the path and the server's verifyClient`,
      { cause: err },
    );
  }
  if (isTlsFailure(err.code)) {
    return new HarmonicsError('ERR_HANDSHAKE', `TLS handshake with ${where} failed: ${err.code}`, { cause: err });
  }
  return new HarmonicsError('ERR_CONNECT', `cannot connect to ${where}: ${err.code ?? err.message}`, { cause: err });
}

/**
 * Adapter for a `ws` WebSocket (client or accepted connection). It takes over
 * the connection's incoming messages: small binary ones are read in front of
 * `ws`'s parser and never reach other `'message'` listeners.
 */
/** Keepalive of a Node WebSocket (see {@link WebSocketChannelOptions}). */
export interface KeepAlive {
  /** Ping the peer when nothing was heard from it for this long; 0 turns keepalive off. */
  keepAliveMs: number;
  /** Drop the connection (`ERR_CONNECTION_LOST`) when nothing was heard and nothing was taken by the peer for this long. */
  idleTimeoutMs: number;
}

/** Messages, and bytes, held for a connection whose producer is not made yet before it stops reading. */
const EARLY_MAX_MESSAGES = 16;
const EARLY_MAX_BYTES = 1024 * 1024;

/**
 * The SocketAdapter over a Node `ws` WebSocket. With `fast` (fast paths on,
 * DESIGN §11) it works partly under `ws`'s public API: small messages framed
 * and written to its socket, cut from the socket's chunks in front of its
 * parser, corked writes, the socket's drain. Without, it uses the public API
 * only.
 */
export function nodeSocketAdapter(ws: WebSocket, where: string, keepAlive: KeepAlive = DEFAULT_KEEPALIVE, fast = true): SocketAdapter {
  // Binary messages arrive as their frames' payloads: a record sent as header + data frames is decoded without joining them.
  ws.binaryType = 'fragments';
  let lastError: (Error & { code?: string }) | undefined;
  let corked = false;
  const uncork = (socket: Socket): void => {
    corked = false;
    socket.uncork();
  };
  // Batch the frames of one tick into one write: cork now, uncork on the next tick.
  const cork = (): void => {
    if (!fast) return;
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (!corked && socket) {
      corked = true;
      socket.cork();
      process.nextTick(uncork, socket);
    }
  };
  const internals = ws as unknown as WsInternals;
  // Small records are encoded straight into whole frames in a block (masked
  // in place on the client side, with a fresh key each, as RFC 6455 asks)
  // and written once per tick, instead of one ws.send() (two buffers, two
  // stream writes, a masked copy on the client) each. Only while ws's own
  // sender is idle and between messages; everything ws sends itself is
  // preceded by a flush, so the order on the wire is the order of the calls.
  // Blocks are reused once the socket has written all of them (fresh memory
  // would cost a page fault per 4 KiB on first touch).
  let block: Block | undefined;
  let blockStart = 0;
  let blockEnd = 0;
  let flushQueued = false;
  const spare: Buffer[] = [];
  const retire = (b: Block): void => {
    if (b.full && b.pending === 0 && spare.length < SPARE_BLOCKS) spare.push(b.buf);
  };
  const flush = (): void => {
    flushQueued = false;
    if (blockEnd === blockStart) return;
    const b = block!;
    const frames = b.buf.subarray(blockStart, blockEnd);
    blockStart = blockEnd;
    // After a close frame nothing may follow; the peer reads no more data then.
    if (ws.readyState !== WebSocket.OPEN) return;
    b.pending++;
    internals._socket!.write(frames, () => {
      b.pending--;
      retire(b);
    });
  };
  const senderIdle = (): boolean => {
    const s = internals._sender;
    return s !== undefined && s._state === 0 && s._queue.length === 0 && s._firstFragment;
  };
  // Records that go through ws.send() are carved from blocks too.
  let carve: Buffer | undefined;
  let carveUsed = 0;
  const alloc = (n: number): Buffer => {
    if (n > BLOCK_BYTES / 4) return Buffer.allocUnsafeSlow(n);
    if (carve === undefined || carveUsed + n > carve.length) {
      carve = Buffer.allocUnsafeSlow(BLOCK_BYTES);
      carveUsed = 0;
    }
    const out = carve.subarray(carveUsed, carveUsed + n);
    carveUsed = (carveUsed + n + 7) & ~7;
    return out;
  };
  // Without fast paths, backpressure waits on ws.send()'s callbacks instead of the socket's 'drain'.
  const drainListeners: (() => void)[] = [];
  const written = (): void => {
    for (const fn of drainListeners) fn();
  };
  let wasOpen = ws.readyState === WebSocket.OPEN;
  ws.on('error', (err) => (lastError = err));
  // Keepalive: any frame from the peer (messages, pings, pongs) or bytes it took off our socket
  // show it is there; when neither happened for idleTimeoutMs, it went away without closing.
  let lastHeard = Date.now();
  let pausedByUs = false;
  const heard = (): void => {
    lastHeard = Date.now();
  };
  ws.on('ping', heard);
  ws.on('pong', heard);
  let keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  const startKeepAlive = (): void => {
    if (keepAlive.keepAliveMs <= 0 || keepAliveTimer !== undefined) return;
    let backlog = 0;
    let flushed = 0;
    lastHeard = Date.now();
    keepAliveTimer = setInterval(
      () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (fast) {
          const socket = internals._socket;
          if (socket === undefined) return;
          // A backlog of ours that the peer's TCP keeps draining means a live, if slow, reader.
          const nowFlushed = socket.bytesWritten - socket.writableLength;
          if (backlog > 0 && nowFlushed > flushed) heard();
          backlog = socket.writableLength;
          flushed = nowFlushed;
        } else {
          // The same through the public API: the backlog shrank since the last look.
          const now = ws.bufferedAmount;
          if (backlog > 0 && now < backlog) heard();
          backlog = now;
        }
        if (pausedByUs) return heard(); // we are not reading: its pongs wait unread; not its fault
        const silent = Date.now() - lastHeard;
        if (silent >= keepAlive.idleTimeoutMs) {
          lastError = Object.assign(new Error(`nothing heard from the peer for ${silent} ms (idleTimeoutMs ${keepAlive.idleTimeoutMs})`), {
            code: 'IDLE_TIMEOUT',
          });
          ws.terminate();
        } else if (silent >= keepAlive.keepAliveMs) {
          flush();
          ws.ping();
        }
      },
      Math.max(10, Math.min(keepAlive.keepAliveMs, keepAlive.idleTimeoutMs) / 2),
    );
    keepAliveTimer.unref?.();
  };
  ws.once('close', () => clearInterval(keepAliveTimer));
  const opened = wasOpen
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          wasOpen = true;
          resolve();
        });
        ws.once('close', () => reject(openError(lastError ?? new Error('closed before opening'), where)));
      });
  opened.catch(() => undefined);
  // Listen from the start: an accepted connection may get messages (and even
  // close) before its producer or consumer is made; they wait here.
  type Message = Uint8Array | readonly Uint8Array[] | string;
  let onMessage: ((data: Message, owned?: boolean) => void) | undefined;
  const early: [Message, boolean][] = [];
  let earlyBytes = 0;
  let earlyPaused = false;
  const received = (item: Message, owned: boolean): void => {
    lastHeard = Date.now();
    if (onMessage) return onMessage(item, owned);
    early.push([item, owned]);
    earlyBytes += typeof item === 'string' ? item.length : Array.isArray(item) ? item.reduce((n, b) => n + b.length, 0) : (item as Uint8Array).length;
    if (!earlyPaused && (early.length >= EARLY_MAX_MESSAGES || earlyBytes >= EARLY_MAX_BYTES)) {
      earlyPaused = pausedByUs = true;
      ws.pause(); // nobody reads yet: hold the sender back
    }
  };
  ws.on('message', (data: Buffer | Buffer[], isBinary: boolean) => {
    received(isBinary ? (Array.isArray(data) && data.length === 1 ? data[0]! : data) : String(data), false);
  });
  // Small whole binary messages are cut from the socket's chunks around ws's parser; those
  // views are ours (nothing else reads the chunk), so they are passed as owned.
  const owned = (payload: Uint8Array): void => received(payload, true);
  if (wasOpen) {
    if (fast) receiveFast(ws, owned);
    startKeepAlive();
  } else
    ws.once('open', () => {
      if (fast) receiveFast(ws, owned);
      startKeepAlive();
    });
  let onClose: ((code: number, reason: string, error?: HarmonicsError) => void) | undefined;
  let closedWith: [number, string, HarmonicsError | undefined] | undefined;
  ws.on('close', (code: number, reason: Buffer) => {
    spare.length = 0;
    carve = undefined;
    let error: HarmonicsError | undefined;
    if (!wasOpen) error = openError(lastError ?? new Error('closed before opening'), where);
    else if (lastError?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || lastError?.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
      error = new HarmonicsError('ERR_TOO_LARGE', `${where} sent a message over maxMessageBytes; raise it with { maxMessageBytes } on both sides`, {
        cause: lastError,
      });
    } else if (lastError?.code?.startsWith('WS_ERR_') === true) {
      // ws found a frame that breaks RFC 6455 (a bad opcode, mask or RSV bit, invalid UTF-8) and closed with 1002 or 1007.
      error = new HarmonicsError(
        'ERR_PROTOCOL',
        `${where} broke the WebSocket protocol (${lastError.code}: ${lastError.message}); the connection was closed`,
        {
          cause: lastError,
        },
      );
    } else if (lastError?.code === 'IDLE_TIMEOUT') {
      error = new HarmonicsError(
        'ERR_CONNECTION_LOST',
        `${where} went silent: ${lastError.message}; it is gone or stuck without closing (raise idleTimeoutMs, or keepAliveMs: 0 to turn keepalive off)`,
      );
    } else if (lastError !== undefined && code !== 1000) {
      error = new HarmonicsError('ERR_CONNECTION_LOST', `the connection to ${where} failed: ${lastError.code ?? lastError.message}`, {
        cause: lastError,
      });
    }
    closedWith = [code, reason.toString('utf8'), error];
    onClose?.(...closedWith);
  });
  return {
    where,
    opened,
    onMessage: (fn) => {
      onMessage = fn;
      const held = early.splice(0);
      earlyBytes = 0;
      if (earlyPaused) {
        earlyPaused = pausedByUs = false;
        ws.resume();
      }
      for (const [item, owned] of held) fn(item, owned);
    },
    onClose: (fn) => {
      onClose = fn;
      if (closedWith) fn(...closedWith);
    },
    alloc,
    sendTensor(t, n) {
      if (!fast) return false;
      const server = internals._isServer;
      if (typeof server !== 'boolean' || n > OWN_FRAMING_MAX || ws.readyState !== WebSocket.OPEN || !senderIdle()) return false;
      const key = server ? 0 : 4;
      const h = (n < 126 ? 2 : 4) + key;
      if (block === undefined || blockEnd + h + n > block.buf.length) {
        flush();
        if (block !== undefined) {
          block.full = true;
          retire(block);
        }
        block = { buf: spare.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES), pending: 0, full: false };
        blockStart = blockEnd = 0;
      }
      const buf = block.buf;
      encodeTensorInto(t, buf, blockEnd + h); // throws before anything is committed
      buf[blockEnd] = 0x82; // FIN, binary
      const maskBit = server ? 0 : 0x80;
      if (n < 126) buf[blockEnd + 1] = maskBit | n;
      else {
        buf[blockEnd + 1] = maskBit | 126;
        buf.writeUInt16BE(n, blockEnd + 2);
      }
      framedHere.frames++;
      if (!server) {
        framedHere.masked++;
        writeMaskKey(buf, blockEnd + h - 4);
        xorMask(buf, blockEnd + h, blockEnd + h + n, blockEnd + h - 4);
      }
      blockEnd += h + n;
      if (!flushQueued) {
        flushQueued = true;
        cork();
        process.nextTick(flush);
      }
      return true;
    },
    send(data, done) {
      flush();
      cork();
      ws.send(data, SEND_OPTIONS, fast ? undefined : written);
      done();
    },
    sendParts(header, data, done) {
      flush();
      cork();
      ws.send(header, FIRST_FRAME);
      ws.send(data, LAST_FRAME, (err) => {
        if (!fast) written();
        done(err);
      });
    },
    bufferedAmount: () => ws.bufferedAmount,
    close: (code, reason) => {
      flush();
      ws.close(code, reason);
    },
    terminate: () => ws.terminate(),
    pause: () => {
      pausedByUs = true;
      ws.pause();
    },
    resume: () => {
      pausedByUs = false;
      heard();
      ws.resume();
    },
    onDrain(fn) {
      if (!fast) {
        drainListeners.push(fn); // called as sends complete: bufferedAmount dropped then
        return;
      }
      // bufferedAmount counts the socket's buffer: its 'drain' is when it dropped.
      const socket = (ws as unknown as { _socket?: Socket })._socket;
      if (socket) socket.on('drain', fn);
      else ws.once('open', () => (ws as unknown as { _socket: Socket })._socket.on('drain', fn));
    },
  };
}
