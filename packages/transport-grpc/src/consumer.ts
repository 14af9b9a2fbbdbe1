import type { ClientWritableStream } from '@grpc/grpc-js';
import { type AbortOptions, BaseConsumer, HarmonicsError, type Tensor, encodedByteLength } from '@harmonics/core';
import { abortError, checkPositive, closedError, noop, tooLargeError } from '@harmonics/internal';
import {
  type ClientSettings,
  type GrpcClientOptions,
  PUSH_PATH,
  REOPEN_MIN_INTERVAL_MS,
  callMetadata,
  deadlineFor,
  makeClient,
  watchConnect,
} from './client.js';
import { callError, isRetryable, withErrorCode } from './errors.js';
import { LazyTensorData, decodeEmpty, tensorMessage } from './proto.js';

/** Options of {@link GrpcConsumer}. */
export interface GrpcConsumerOptions extends GrpcClientOptions {
  /**
   * Bytes written to the call but not yet taken by HTTP/2 before `push()`
   * waits. Default 8 MiB.
   */
  highWaterMark?: number;
}

interface PushCall {
  stream: ClientWritableStream<Buffer>;
  openedAt: number;
  /** Bytes written and not yet flushed to HTTP/2 on this call. */
  pending: number;
  /** Tensors written to this call (their push() may have resolved); confirmed only when the call ends OK. */
  written: number;
  done: boolean;
  error: unknown;
  finished: Promise<void>;
  /** The server sent its response headers: it admitted the call. */
  admitted: Promise<void>;
}

const RESOLVED: Promise<void> = Promise.resolve();
const identity = (b: Buffer): Buffer => b;

/**
 * Pushes tensors to a `harmonics.TensorService` server over one `PushTensor`
 * call (opened by the constructor). `push()` encodes the tensor at once (the
 * caller may reuse it as soon as `push()` returns a promise), writes it to the
 * call and resolves while fewer than `highWaterMark` bytes wait for HTTP/2.
 * `close()` half-closes the call and resolves when the server has answered,
 * i.e. has received every tensor.
 *
 * With `timeoutMs`, every call has a deadline; the consumer replaces its call
 * before the deadline (waiting for the server to confirm the old one), and a
 * call that breaks is replaced on the next `push()`. Nothing is lost
 * silently: when a call that carried tensors breaks before the server
 * confirmed it, the next `push()` (which does not send its tensor) or
 * `close()` rejects `ERR_CONNECTION_LOST`, saying how many may be lost.
 */
export class GrpcConsumer extends BaseConsumer {
  private readonly s: ClientSettings;
  readonly highWaterMark: number;
  private call: PushCall | undefined;
  private opening: Promise<void> | undefined;
  private openedAt = -Infinity;
  private established = false;
  private failure: HarmonicsError | undefined;
  private failureReported = false;
  /** A call that broke after tensors were written to it: reported once, by the next push() or close(). */
  private lost: HarmonicsError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private tail: Promise<void> = RESOLVED;
  private inflight = 0;
  private roomWaiter: (() => void) | undefined;
  private readonly stopConnectWatch: () => void;

  constructor(host: string, port: number, options: GrpcConsumerOptions = {}) {
    super();
    checkPositive('highWaterMark', options.highWaterMark);
    this.s = makeClient(host, port, options);
    this.highWaterMark = options.highWaterMark ?? 8 * 1024 * 1024;
    this.opening = this.open();
    this.stopConnectWatch = watchConnect(this.s, (err) => {
      this.failure ??= err;
      this.call?.stream.cancel();
      this.wakeRoom();
    });
  }

  /** `host:port` of the server. */
  get target(): string {
    return this.s.target;
  }

  private async open(): Promise<void> {
    const now = Date.now();
    if (now - this.openedAt < REOPEN_MIN_INTERVAL_MS) await new Promise((r) => setTimeout(r, REOPEN_MIN_INTERVAL_MS));
    this.openedAt = Date.now();
    let md;
    try {
      md = await callMetadata(this.s.metadata, 'PushTensor');
    } catch (err) {
      this.failure = new HarmonicsError('ERR_HANDSHAKE', `the metadata hook failed: ${String(err)}`, { cause: err });
      this.opening = undefined;
      return;
    }
    let finish!: () => void;
    let admit!: () => void;
    const call: PushCall = {
      stream: undefined as unknown as ClientWritableStream<Buffer>,
      openedAt: Date.now(),
      pending: 0,
      written: 0,
      done: false,
      error: undefined,
      finished: new Promise<void>((r) => (finish = r)),
      admitted: new Promise<void>((r) => (admit = r)),
    };
    call.stream = this.s.client.makeClientStreamRequest<Buffer, unknown>(
      PUSH_PATH,
      identity,
      decodeEmpty,
      md,
      deadlineFor(this.s.timeoutMs),
      (err) => {
        call.done = true;
        call.error = err === null ? undefined : err.metadata ? withErrorCode(err) : err;
        finish();
        admit();
        this.wakeRoom();
      },
    );
    call.stream.on('metadata', () => {
      this.established = true;
      admit();
    });
    call.stream.on('error', noop); // reported through the callback
    this.call = call;
    this.opening = undefined;
  }

  private wakeRoom(): void {
    const w = this.roomWaiter;
    this.roomWaiter = undefined;
    w?.();
  }

  private needsRotation(c: PushCall): boolean {
    return this.s.timeoutMs !== undefined && Date.now() - c.openedAt > this.s.timeoutMs / 2;
  }

  private write(c: PushCall, msg: Buffer | LazyTensorData): void {
    const len = msg.length;
    c.pending += len;
    c.written++;
    c.stream.write(msg as Buffer, () => {
      c.pending -= len;
      if (c.pending <= this.highWaterMark) this.wakeRoom();
    });
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('GrpcConsumer'));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal, 'GrpcConsumer.push()'));
    let msg: Buffer | LazyTensorData;
    try {
      const bytes = encodedByteLength(t);
      if (bytes > this.s.maxMessageBytes) throw tooLargeError('tensor record', bytes, this.s.maxMessageBytes);
      // The one copy: now for small tensors, into grpc-js's frame for large ones.
      msg = tensorMessage(t, this.s.lazyMessages);
    } catch (err) {
      return Promise.reject(err);
    }
    const c = this.call;
    if (
      this.inflight === 0 &&
      c !== undefined &&
      !c.done &&
      this.failure === undefined &&
      c.pending <= this.highWaterMark &&
      !this.needsRotation(c)
    ) {
      this.write(c, msg);
      return msg instanceof LazyTensorData ? this.copiedOrDone(msg, c) : RESOLVED;
    }
    this.inflight++;
    const run = (): Promise<void> => this.slowPush(msg, signal);
    const p = this.tail.then(run, run);
    this.tail = p.then(this.settled, this.settled);
    return p;
  }

  private readonly settled = (): void => {
    this.inflight--;
  };

  /** Resolves once grpc-js has copied the tensor (the caller may reuse it), or the call ended without it. */
  private copiedOrDone(msg: LazyTensorData, c: PushCall): Promise<void> {
    return msg.isCopied ? RESOLVED : Promise.race([msg.copied, c.finished]);
  }

  private async slowPush(msg: Buffer | LazyTensorData, signal: AbortSignal | undefined): Promise<void> {
    const timeoutMs = this.s.timeoutMs;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (true) {
      if (signal?.aborted) throw abortError(signal, 'GrpcConsumer.push()');
      if (this.failure !== undefined) {
        this.failureReported = true;
        throw this.failure;
      }
      if (this.lost !== undefined) {
        const lost = this.lost;
        this.lost = undefined;
        throw notSent(lost);
      }
      if (this.opening !== undefined) {
        await this.opening;
        continue;
      }
      const c = this.call;
      if (c === undefined) {
        this.opening = this.open();
        continue;
      }
      if (c.done) {
        const err = callError(c.error ?? 'the server ended the call early', 'PushTensor', this.s.target, this.established);
        if (timeoutMs === undefined) {
          this.failure = err;
          continue;
        }
        this.call = undefined;
        this.opening = this.open();
        if (c.error !== undefined && c.written > 0) throw notSent(this.lostOn(c, err)); // an OK end confirmed them all
        if (isRetryable(c.error)) continue;
        throw err;
      }
      if (this.needsRotation(c)) {
        await this.rotate(c);
        continue;
      }
      if (c.pending <= this.highWaterMark) {
        this.write(c, msg);
        if (msg instanceof LazyTensorData) await this.copiedOrDone(msg, c);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new HarmonicsError('ERR_TIMEOUT', `${this.s.target} took no data for ${timeoutMs} ms (timeoutMs); the tensor was not sent`);
      }
      await this.waitForRoom(left, signal);
    }
  }

  private waitForRoom(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.roomWaiter = undefined;
      };
      const onRoom = (): void => {
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortError(signal, 'GrpcConsumer.push()'));
      };
      const timer = ms === Infinity ? undefined : setTimeout(onRoom, ms);
      this.roomWaiter = onRoom;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Replace the call before its deadline without losing or reordering
   * anything: open the new one, wait until the server admitted it (so the
   * stream never looks writer-less), half-close the old one and wait for the
   * server's answer, which confirms it received everything.
   */
  private async rotate(old: PushCall): Promise<void> {
    this.call = undefined;
    this.opening = this.open();
    await this.opening;
    const next = this.call as PushCall | undefined;
    const wait = Math.min(1000, (this.s.timeoutMs ?? 4000) / 4);
    if (next !== undefined) await within(Promise.race([next.admitted, old.finished]), wait);
    old.stream.end();
    const confirmed = await within(old.finished, this.s.timeoutMs ?? 0);
    if (old.written > 0 && (confirmed === TIMED_OUT || old.error !== undefined)) {
      if (confirmed === TIMED_OUT) old.stream.cancel();
      const why = old.error ?? `the server did not confirm it within ${this.s.timeoutMs} ms`;
      this.lost ??= this.lostOn(old, callError(why, 'PushTensor', this.s.target, this.established));
    }
  }

  /** The report for tensors written to a call that ended without the server's confirmation. */
  private lostOn(c: PushCall, cause: HarmonicsError): HarmonicsError {
    return new HarmonicsError(
      'ERR_CONNECTION_LOST',
      `the PushTensor call to ${this.s.target} broke before the server confirmed it (${cause.message}): ` +
        `up to ${c.written} tensor(s) pushed on it may not have arrived; resend them if they matter (the consumer goes on with a new call)`,
      { cause },
    );
  }

  /**
   * Wait for pending pushes, half-close the call and wait for the server's
   * answer (with `timeoutMs`, at most that long), then close the channel.
   * Rejects when the call failed and no `push()` reported it yet. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.closing = this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    try {
      await this.tail;
      if (this.opening !== undefined) await this.opening;
      const c = this.call;
      if (this.failure !== undefined) {
        if (!this.failureReported) throw this.failure;
        return;
      }
      if (c === undefined) {
        if (this.lost !== undefined) throw this.lost;
        return;
      }
      if (!c.done) {
        c.stream.end();
        const timeoutMs = this.s.timeoutMs;
        if (timeoutMs === undefined) await c.finished;
        else if ((await within(c.finished, timeoutMs)) === TIMED_OUT) {
          c.stream.cancel();
          throw new HarmonicsError(
            'ERR_TIMEOUT',
            `${this.s.target} did not confirm the end of the PushTensor call within ${timeoutMs} ms; the last tensors may be lost`,
          );
        }
      }
      if (this.failure !== undefined && !this.failureReported) throw this.failure; // e.g. no server answered (connectTimeoutMs)
      if (this.lost !== undefined) throw this.lost; // an earlier call broke: reported now that this one is ended
      if (c.error !== undefined) throw callError(c.error, 'PushTensor', this.s.target, this.established);
    } finally {
      this.stopConnectWatch();
      this.s.client.close();
      this.wakeRoom();
    }
  }
}

/** The rejection of a push() that found its call broken: this tensor was not sent, and earlier ones may be lost. */
function notSent(lost: HarmonicsError): HarmonicsError {
  return new HarmonicsError('ERR_CONNECTION_LOST', `${lost.message}. This tensor was not sent: push it again.`, { cause: lost.cause });
}

const TIMED_OUT = Symbol('timed out');

/** `p`'s value, or TIMED_OUT after `ms`; the timer is cleared either way, so none outlives the wait (close() leaves no timer behind). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, ms, TIMED_OUT)))]);
  } finally {
    clearTimeout(timer);
  }
}
