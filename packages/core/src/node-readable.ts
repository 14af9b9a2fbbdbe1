// Pulling chunks from a Node-style Readable through 'data' events, typed
// structurally so core imports nothing from Node. Flowing mode hands chunks
// over as the socket produced them, with less overhead than the stream's async
// iterator; pause()/resume() keep memory bounded.

/** The parts of a Node `Readable` this adapter uses. */
export interface ReadableLike {
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): unknown;
  readonly readableEnded?: boolean;
  readonly destroyed?: boolean;
}

/** True for objects that look like a Node `Readable` (event emitter with pause/resume). */
export function isReadableLike(source: unknown): source is ReadableLike {
  const s = source as ReadableLike;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.on === 'function' &&
    typeof s.pause === 'function' &&
    typeof s.resume === 'function' &&
    typeof s.destroy === 'function'
  );
}

const HIGH_WATER_CHUNKS = 16;
const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined };

/**
 * A pull function over a Node `Readable`: resolves the next chunk, `done` at
 * 'end', rejects on 'error' (or a 'close' without 'end'). At most 16 chunks are
 * queued before the stream is paused.
 */
export function pullFromReadable(r: ReadableLike): { pull: () => Promise<IteratorResult<Uint8Array>>; release: () => void } {
  const queue: Uint8Array[] = [];
  let head = 0;
  let ended = false;
  let failure: Error | undefined;
  let paused = false;
  let waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void } | undefined;

  const wake = (): void => {
    const w = waiter;
    if (w === undefined) return;
    waiter = undefined;
    if (head < queue.length) w.resolve(take());
    else if (failure) w.reject(failure);
    else if (ended) w.resolve(DONE);
    else waiter = w;
  };
  const take = (): IteratorResult<Uint8Array> => {
    const value = queue[head++];
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (paused && queue.length - head < HIGH_WATER_CHUNKS / 2) {
      paused = false;
      r.resume();
    }
    return { done: false, value };
  };

  r.on('data', (chunk) => {
    queue.push(chunk);
    if (queue.length - head >= HIGH_WATER_CHUNKS && !paused) {
      paused = true;
      r.pause();
    }
    wake();
  });
  r.on('end', () => {
    ended = true;
    wake();
  });
  r.on('error', (err) => {
    failure ??= err;
    wake();
  });
  r.on('close', () => {
    if (!ended) failure ??= new Error('the stream closed before it ended');
    wake();
  });

  return {
    pull: () => {
      if (head < queue.length) return Promise.resolve(take());
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.resolve(DONE);
      return new Promise((resolve, reject) => (waiter = { resolve, reject }));
    },
    release: () => {
      r.destroy();
    },
  };
}
