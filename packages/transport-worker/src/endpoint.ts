// Anything that speaks postMessage, taken structurally: a MessagePort (browser
// or Node's worker_threads), a Worker (either kind), a worker's global scope,
// Node's parentPort, a BroadcastChannel. Node's objects are EventEmitters
// (`on`/`off`, listeners get the message itself); the browser's are
// EventTargets (`addEventListener`, listeners get a MessageEvent).

/** Something a message can be posted to, with a transfer list. */
export interface PostTarget {
  postMessage(message: unknown, transfer?: any[]): void; // eslint-disable-line @typescript-eslint/no-explicit-any -- Transferable[] in browsers, TransferListItem[] in Node
}

/* eslint-disable @typescript-eslint/no-explicit-any -- listener types of Node's and the DOM's event APIs, taken structurally */
/** Node's style: an EventEmitter (`worker_threads` ports and workers). */
export interface EmitterLike {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
}

/** The browser's style: an EventTarget (`MessagePort`, `Worker`, a worker's global scope). */
export interface EventTargetLike {
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
  start?(): void;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * An endpoint of a channel between threads: a `MessagePort`, a `Worker`, a
 * worker's global scope (`self` in a browser worker, `parentPort` in Node), a
 * `BroadcastChannel`. Used structurally: nothing is imported from
 * `node:worker_threads`.
 */
export type Endpoint = PostTarget & (EmitterLike | EventTargetLike);

/** How an endpoint told us its peer is gone. */
export type PeerGone = { reason: 'closed' | 'exited' | 'error'; detail?: unknown };

/**
 * Listen to `endpoint` for messages and for signs that the other side is gone:
 * `close` (a port whose other end closed or whose thread ended), `exit` (a
 * Node worker), `error` (a worker that threw). Returns the function that
 * removes every listener (a Node port with no message listener no longer keeps
 * its thread alive).
 */
export function listen(endpoint: Endpoint, onMessage: (data: unknown) => void, onGone: (gone: PeerGone) => void): () => void {
  const e = endpoint as Partial<EmitterLike & EventTargetLike>;
  if (typeof e.on === 'function') {
    const emitter = endpoint as EmitterLike;
    const onClose = (): void => onGone({ reason: 'closed' });
    const onExit = (code: number): void => onGone({ reason: 'exited', detail: code });
    const onError = (err: unknown): void => onGone({ reason: 'error', detail: err });
    emitter.on('message', onMessage as never);
    emitter.on('close', onClose);
    emitter.on('exit', onExit as never);
    emitter.on('error', onError as never);
    return () => {
      const off = (emitter.off ?? emitter.removeListener)!.bind(emitter);
      off('message', onMessage as never);
      off('close', onClose);
      off('exit', onExit as never);
      off('error', onError as never);
    };
  }
  if (typeof e.addEventListener === 'function') {
    const target = endpoint as EventTargetLike;
    const message = (event: { data: unknown }): void => onMessage(event.data);
    const close = (): void => onGone({ reason: 'closed' });
    const error = (event: { message?: string; error?: unknown }): void => onGone({ reason: 'error', detail: event.error ?? event.message });
    // A Worker object's `error` is its thread failing; a worker scope's own
    // `error` events are its uncaught exceptions, not a lost peer.
    const isWorker = typeof (endpoint as { terminate?: unknown }).terminate === 'function';
    target.addEventListener('message', message as never);
    target.addEventListener('close', close as never);
    if (isWorker) target.addEventListener('error', error as never);
    target.start?.();
    return () => {
      target.removeEventListener('message', message as never);
      target.removeEventListener('close', close as never);
      if (isWorker) target.removeEventListener('error', error as never);
    };
  }
  throw new TypeError('the endpoint has neither on() nor addEventListener(): pass a MessagePort, a Worker, a worker scope or a BroadcastChannel');
}

/** Words for an error message. */
export function goneText(gone: PeerGone): string {
  if (gone.reason === 'exited') return `the peer's worker exited (code ${String(gone.detail)})`;
  if (gone.reason === 'error') return `the peer's worker failed: ${String((gone.detail as { message?: unknown })?.message ?? gone.detail)}`;
  return 'the channel closed: the peer closed its port or its thread ended';
}
