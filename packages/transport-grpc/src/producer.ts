import type { ClientReadableStream, Metadata, StatusObject } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { type AbortOptions, BaseProducer, HarmonicsError, type Tensor } from '@harmonics/core';
import { abortError, closedError } from '@harmonics/internal';
import {
  type ClientSettings,
  type GrpcClientOptions,
  POP_PATH,
  REOPEN_MIN_INTERVAL_MS,
  callMetadata,
  deadlineFor,
  makeClient,
  watchConnect,
} from './client.js';
import { callError, isRetryable, withErrorCode } from './errors.js';
import { decodeTensorData, encodeEmpty } from './proto.js';

type Item = Tensor | HarmonicsError;

/** A call's end: OK, or the error to report (after its buffered tensors). */
interface CallState {
  stream: ClientReadableStream<Item>;
  ended: boolean;
  error: unknown;
}

/**
 * Reads tensors from a `harmonics.TensorService` server over one `PopTensor`
 * call (opened by the constructor). Resolves `undefined` when the server ends
 * the call with OK (its stream ended).
 *
 * With `timeoutMs`, every call has that deadline and a call that breaks
 * (server restart, deadline) is replaced by a new one while `next()` waits;
 * `next()` rejects `ERR_TIMEOUT` when no tensor arrives within `timeoutMs`.
 * Tensors the server had already sent on a call that broke, but that had not
 * arrived, are lost (see the README).
 */
export class GrpcProducer extends BaseProducer {
  private readonly s: ClientSettings;
  private readonly deserialize: (b: Buffer) => Item;
  private call: CallState | undefined;
  private established = false;
  private failure: HarmonicsError | undefined;
  private finished = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private openedAt = -Infinity;
  private reopenTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stopConnectWatch: () => void;

  constructor(host: string, port: number, options: GrpcClientOptions = {}) {
    super();
    this.s = makeClient(host, port, options);
    const max = this.s.maxMessageBytes;
    this.deserialize = (b: Buffer): Item => {
      try {
        return decodeTensorData(b, max);
      } catch (err) {
        return err instanceof HarmonicsError ? err : new HarmonicsError('ERR_PROTOCOL', String(err), { cause: err });
      }
    };
    this.open();
    this.stopConnectWatch = watchConnect(this.s, (err) => {
      if (this.closed) return;
      this.failure ??= err;
      this.call?.stream.cancel();
      this.notify();
    });
  }

  /** `host:port` of the server. */
  get target(): string {
    return this.s.target;
  }

  private open(): void {
    // A call that broke right after it opened (a server that is shutting
    // down) is not replaced in a tight loop.
    const now = Date.now();
    const delay = now - this.openedAt < REOPEN_MIN_INTERVAL_MS ? REOPEN_MIN_INTERVAL_MS : 0;
    this.openedAt = now + delay;
    const ready =
      delay === 0
        ? callMetadata(this.s.metadata, 'PopTensor')
        : new Promise((r) => (this.reopenTimer = setTimeout(r, delay))).then(() => callMetadata(this.s.metadata, 'PopTensor'));
    ready.then(
      (md: Metadata) => {
        if (this.closed) return;
        const stream = this.s.client.makeServerStreamRequest<Record<string, never>, Item>(
          POP_PATH,
          encodeEmpty,
          this.deserialize,
          {},
          md,
          deadlineFor(this.s.timeoutMs),
        );
        const state: CallState = { stream, ended: false, error: undefined };
        this.call = state;
        stream.on('metadata', () => {
          this.established = true;
        });
        stream.on('readable', this.notify);
        stream.on('error', () => undefined); // reported through 'status'
        stream.on('status', (st: StatusObject) => {
          if (st.code === Status.OK) state.ended = true;
          else state.error = withErrorCode(st);
          this.notify();
        });
      },
      (err: unknown) => {
        this.failure = new HarmonicsError('ERR_HANDSHAKE', `the metadata hook failed: ${String(err)}`, { cause: err });
        this.notify();
      },
    );
  }

  private readonly notify = (): void => {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  /** A buffered tensor, an error to throw, or null when there is nothing yet. */
  private poll(): Tensor | undefined | null {
    if (this.closed) throw closedError('GrpcProducer');
    if (this.failure !== undefined) throw this.failure;
    if (this.finished) return undefined;
    const c = this.call;
    if (c === undefined) return null;
    const item = c.stream.read() as Item | null;
    if (item !== null) {
      if (item instanceof HarmonicsError) {
        this.failure = item;
        c.stream.cancel();
        throw item;
      }
      return item;
    }
    if (c.ended) {
      this.finished = true;
      return undefined;
    }
    if (c.error !== undefined) {
      const err = callError(c.error, 'PopTensor', this.s.target, this.established);
      if (this.s.timeoutMs === undefined) {
        this.failure = err;
        throw err;
      }
      // With timeoutMs a broken call is replaced: at once when it broke in a
      // way that a new call may cure, else on the next next() after this one
      // reports the error.
      this.call = undefined;
      this.open();
      if (isRetryable(c.error)) return null;
      throw err;
    }
    return null;
  }

  protected override readReady(): Tensor | undefined {
    try {
      return this.poll() ?? undefined;
    } catch {
      return undefined; // read() reports it
    }
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, 'GrpcProducer.next()');
    const timeoutMs = this.s.timeoutMs;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (true) {
      const got = this.poll();
      if (got !== null) return got;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new HarmonicsError(
          'ERR_TIMEOUT',
          `no tensor from ${this.s.target} within ${timeoutMs} ms (timeoutMs); the call stays open, call next() again to keep waiting`,
        );
      }
      await new Promise<void>((resolve, reject) => {
        const cleanup = (): void => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.wake = undefined;
        };
        const onWake = (): void => {
          cleanup();
          resolve();
        };
        const onAbort = (): void => {
          cleanup();
          reject(abortError(signal, 'GrpcProducer.next()'));
        };
        const timer = left === Infinity ? undefined : setTimeout(onWake, left);
        this.wake = onWake;
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Cancel the call and close the channel. Tensors in flight to this producer are dropped. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer); // a pending reopen never runs (its promise stays pending; nothing waits on it)
    this.stopConnectWatch();
    this.call?.stream.cancel();
    this.call = undefined;
    this.s.client.close();
    this.notify();
  }
}
