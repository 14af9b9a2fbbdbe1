import { HarmonicsError } from '@harmonics/core';
import type { Socket } from 'node:net';
import WebSocket from 'ws';

const SEND_OPTIONS = { binary: true };
const FIRST_FRAME = { binary: true, fin: false };
const LAST_FRAME = { binary: true, fin: true };
import type { SocketAdapter } from './channel.js';

function isTlsFailure(code: string | undefined): boolean {
  return code !== undefined && (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
}

/** The error of a connection that never opened: refused upgrade or TLS is ERR_HANDSHAKE, else ERR_CONNECT. */
function openError(err: Error & { code?: string }, where: string): HarmonicsError {
  if (/Unexpected server response/.test(err.message)) {
    return new HarmonicsError('ERR_HANDSHAKE', `${where} refused the WebSocket upgrade (${err.message}); check the path and the server's verifyClient`, { cause: err });
  }
  if (isTlsFailure(err.code)) {
    return new HarmonicsError('ERR_HANDSHAKE', `TLS handshake with ${where} failed: ${err.code}`, { cause: err });
  }
  return new HarmonicsError('ERR_CONNECT', `cannot connect to ${where}: ${err.code ?? err.message}`, { cause: err });
}

/** Adapter for a `ws` WebSocket (client or accepted connection). */
export function nodeSocketAdapter(ws: WebSocket, where: string): SocketAdapter {
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
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (!corked && socket) {
      corked = true;
      socket.cork();
      process.nextTick(uncork, socket);
    }
  };
  let wasOpen = ws.readyState === WebSocket.OPEN;
  ws.on('error', (err) => (lastError = err));
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
  let onMessage: ((data: Uint8Array | readonly Uint8Array[] | string) => void) | undefined;
  const early: (Uint8Array | readonly Uint8Array[] | string)[] = [];
  ws.on('message', (data: Buffer | Buffer[], isBinary: boolean) => {
    const item = isBinary ? (Array.isArray(data) && data.length === 1 ? data[0]! : data) : String(data);
    if (onMessage) onMessage(item);
    else if (early.push(item) === 16) ws.pause(); // nobody reads yet: hold the sender back
  });
  let onClose: ((code: number, reason: string, error?: HarmonicsError) => void) | undefined;
  let closedWith: [number, string, HarmonicsError | undefined] | undefined;
  ws.on('close', (code: number, reason: Buffer) => {
    let error: HarmonicsError | undefined;
    if (!wasOpen) error = openError(lastError ?? new Error('closed before opening'), where);
    else if (lastError?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      error = new HarmonicsError('ERR_TOO_LARGE', `${where} sent a message over maxMessageBytes; raise it with { maxMessageBytes } on both sides`, { cause: lastError });
    } else if (lastError !== undefined && code !== 1000) {
      error = new HarmonicsError('ERR_CONNECTION_LOST', `the connection to ${where} failed: ${lastError.code ?? lastError.message}`, { cause: lastError });
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
      if (held.length >= 16) ws.resume();
      for (const item of held) fn(item);
    },
    onClose: (fn) => {
      onClose = fn;
      if (closedWith) fn(...closedWith);
    },
    send(data, done) {
      cork();
      ws.send(data, SEND_OPTIONS);
      done();
    },
    sendParts(header, data, done) {
      cork();
      ws.send(header, FIRST_FRAME);
      ws.send(data, LAST_FRAME, done);
    },
    bufferedAmount: () => ws.bufferedAmount,
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    onDrain(fn) {
      // bufferedAmount counts the socket's buffer: its 'drain' is when it dropped.
      const socket = (ws as unknown as { _socket?: Socket })._socket;
      if (socket) socket.on('drain', fn);
      else ws.once('open', () => (ws as unknown as { _socket: Socket })._socket.on('drain', fn));
    },
  };
}
