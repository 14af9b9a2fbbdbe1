// A single-producer single-consumer ring of wire-format records over a
// SharedArrayBuffer (README "Shared-memory ring").
//
// Layout: a 256-byte control block of Int32 slots, HEAD, TAIL, STATE and the
// two waiting flags each on its own 64-byte cache line, then `capacity` bytes of data (a power of two). HEAD and TAIL count
// bytes written and read, modulo 2^32; the ring holds HEAD - TAIL bytes. The
// data is a byte stream of entries: u32 little-endian record length, u32
// padding (0-7), that many zero bytes, then the record in the wire format. The
// padding puts each record's data 8-byte aligned in the ring. A record larger
// than the ring goes through it in pieces.
import { HarmonicsError } from '@harmonics/core';
import { invalidArgument } from '@harmonics/internal';

export const HEAD = 0;
export const TAIL = 16;
export const STATE = 32;
export const MAGIC = 36;
export const CAPACITY = 37;
/** The reader sleeps on HEAD: the writer notifies it. */
export const READER_WAITING = 48;
/** The writer sleeps on TAIL: the reader notifies it. */
export const WRITER_WAITING = 56;
export const CONTROL_BYTES = 256;

export const WRITER_ATTACHED = 1;
export const READER_ATTACHED = 2;
export const WRITER_CLOSED = 4;
export const READER_CLOSED = 8;

const RING_MAGIC = 0x48524e47; // 'HRNG'
const MIN_CAPACITY = 4096;
const MAX_CAPACITY = 1 << 30;

/** Options of {@link createRing}. */
export interface RingOptions {
  /** Data bytes, rounded up to a power of two (4 KiB to 1 GiB). Default 1 MiB. */
  capacityBytes?: number;
}

/**
 * Make the shared memory of a ring: post the returned `SharedArrayBuffer` to
 * the other thread and open a {@link RingConsumer} (writer) on one side and a
 * {@link RingProducer} (reader) on the other.
 *
 * Browsers give `SharedArrayBuffer` only to cross-origin-isolated pages
 * (`Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`).
 *
 * @throws HarmonicsError `ERR_INVALID_ARGUMENT` when the runtime has no `SharedArrayBuffer` or the capacity is out of range.
 */
export function createRing(options: RingOptions = {}): SharedArrayBuffer {
  const requested = options.capacityBytes ?? 1024 * 1024;
  if (!(requested >= 1) || requested > MAX_CAPACITY) throw invalidArgument(`capacityBytes must be between 1 and ${MAX_CAPACITY}, got ${requested}`);
  if (typeof SharedArrayBuffer === 'undefined') {
    throw invalidArgument(
      'this runtime has no SharedArrayBuffer: a browser page needs cross-origin isolation (headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); use PortConsumer/PortProducer without it',
    );
  }
  let capacity = MIN_CAPACITY;
  while (capacity < requested) capacity *= 2;
  const sab = new SharedArrayBuffer(CONTROL_BYTES + capacity);
  const control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
  control[CAPACITY] = capacity;
  Atomics.store(control, MAGIC, RING_MAGIC);
  return sab;
}

/** The control block and data of a ring, checked; claims the role `role` (one writer, one reader). */
export function openRing(
  buffer: unknown,
  role: typeof WRITER_ATTACHED | typeof READER_ATTACHED,
): { control: Int32Array; data: Uint8Array; capacity: number } {
  const isShared = Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';
  if (!isShared || (buffer as SharedArrayBuffer).byteLength < CONTROL_BYTES + MIN_CAPACITY) {
    throw invalidArgument('not a ring: pass the SharedArrayBuffer that createRing() returned');
  }
  const control = new Int32Array(buffer as SharedArrayBuffer, 0, CONTROL_BYTES / 4);
  const capacity = control[CAPACITY]!;
  if (
    Atomics.load(control, MAGIC) !== RING_MAGIC ||
    capacity < MIN_CAPACITY ||
    (capacity & (capacity - 1)) !== 0 ||
    CONTROL_BYTES + capacity !== (buffer as SharedArrayBuffer).byteLength
  ) {
    throw invalidArgument('not a ring: pass the SharedArrayBuffer that createRing() returned');
  }
  const before = Atomics.or(control, STATE, role);
  if ((before & role) !== 0) {
    throw new HarmonicsError(
      'ERR_INVALID_ARGUMENT',
      `this ring already has a ${role === WRITER_ATTACHED ? 'writer (RingConsumer)' : 'reader (RingProducer)'}: a ring joins exactly one writer and one reader; make another ring`,
    );
  }
  return { control, data: new Uint8Array(buffer as SharedArrayBuffer, CONTROL_BYTES, capacity), capacity };
}

type WaitAsync = (i32: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * Look at `control[index]` up to this many times before going to sleep on it.
 * A side that finds the ring empty (or full) usually has the other side a
 * fraction of a microsecond behind: a few microseconds of looking spare both
 * a sleep and the other side's wake-up call (a futex wake, about 2 µs), which
 * would otherwise be paid for every record when the reader keeps up.
 */
export const SPIN_CHECKS = 2000;

/** Whether `control[index]` moved from `observed` within {@link SPIN_CHECKS} looks. */
export function spinFor(control: Int32Array, index: number, observed: number): boolean {
  for (let i = 0; i < SPIN_CHECKS; i++) if (Atomics.load(control, index) !== observed) return true;
  return false;
}

/** How often a waiting side looks at the ring anyway (closing, aborts, a peer that died), ms. */
export const POLL_MS = 200;

/**
 * Resolve when `control[index]` may no longer be `observed`, or after a poll
 * interval, never blocking the thread: `Atomics.waitAsync` where the runtime
 * has it, a timer otherwise. The timer also keeps a Node thread alive while a
 * call waits (a pending waitAsync alone does not).
 */
export function waitChange(control: Int32Array, index: number, observed: number, cancel: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cancel.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, waitAsync ? POLL_MS + 20 : 1);
    cancel.addEventListener('abort', finish, { once: true });
    if (waitAsync) {
      const r = waitAsync(control, index, observed, POLL_MS);
      if (r.async) (r.value as Promise<string>).then(finish, finish);
      else finish();
    }
  });
}
