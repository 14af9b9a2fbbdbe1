import type { TlsOptions } from 'node:tls';
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerOptions,
  type ServerReadableStream,
  type ServerWritableStream,
  type ServiceDefinition,
  status as Status,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  type AbortOptions,
  BaseConsumer,
  BaseProducer,
  HarmonicsError,
  type ListeningServer,
  type ServerCloseOptions,
  type Tensor,
  encodedByteLength,
} from '@harmonics/core';
import { abortError, checkPositive, closedError, keepAliveOptions, maxMessageBytesOf, serverLimitOptions, tooLargeError } from '@harmonics/internal';
import { type Http2Listener, applyWindowToSessions, fastPathsOn, listenGrpc, plainMessages, setServerWindow } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import { Broker } from './broker.js';
import { DEFAULT_FLOW_CONTROL_WINDOW, DEFAULT_SERVER_KEEPALIVE_MS, MAGIC_KEY, MAGIC_VALUE, POP_PATH, PUSH_PATH } from './client.js';
import { BAD_HANDSHAKE, ERROR_CODE_KEY, SHUTTING_DOWN } from './errors.js';
import { type LazyTensorData, TENSOR_DATA_OVERHEAD, decodeEmpty, decodeTensorData, encodeEmpty, tensorMessage } from './proto.js';

/**
 * TLS for the server: Node's `tls.createServer` options, all of them (`key`,
 * `cert`, `ca` with `requestCert` for mutual TLS, `pfx`, `SNICallback`,
 * `minVersion`…). The server terminates TLS itself; ALPN defaults to `h2`.
 */
export type GrpcServerTls = TlsOptions;

/** Options of {@link GrpcServer.listen}. */
export interface GrpcServerOptions {
  /** Port; default 0 (a free one, see `.port`). */
  port?: number;
  /** Host to bind; default `127.0.0.1`. Use `0.0.0.0` or `::` to accept from other machines. */
  host?: string;
  /** Largest record (the whole DESIGN §4 record) received or sent. Default 256 MiB, not gRPC's 4 MiB. */
  maxMessageBytes?: number;
  /** @deprecated The old name of {@link maxMessageBytes}; removed in the next minor release. */
  maxMessageSize?: number;
  /**
   * Ping each client after this many ms of quiet and drop its connection
   * when the ping goes unanswered for `keepAliveTimeoutMs`, so the calls of
   * a client that vanished without closing end (a PushTensor call's writer
   * counts as finished, a PopTensor call stops taking from the queue).
   * Default 20 000; 0 turns it off.
   */
  keepAliveMs?: number;
  /** How long a keepalive ping may go unanswered. Default 20 000. */
  keepAliveTimeoutMs?: number;
  /**
   * Close a connection that has had no call open for this many ms, so idle
   * clients do not hold descriptors (they reconnect by themselves for their
   * next call). A connection that never starts HTTP/2 is `handshakeTimeoutMs`'
   * business. Default 60 000; 0 keeps them.
   */
  idleTimeoutMs?: number;
  /**
   * Close a connection that has not begun HTTP/2 (sent the 24-byte connection
   * preface, or over TLS as many bytes of its handshake) this many ms after it
   * opened: a port scanner or a client of the wrong protocol does not hold a
   * descriptor. Default 10 000; 0: never.
   */
  handshakeTimeoutMs?: number;
  /**
   * Connections open at once; the next one is reset (the client sees
   * `UNAVAILABLE`, Harmonics clients `ERR_CONNECT`) while those already
   * open are served. Keep it below the process's descriptor limit
   * (`ulimit -n`). Default 1024.
   */
  maxConnections?: number;
  /** Calls one connection may have open at once (HTTP/2 streams); more wait in the client. Default 100. */
  maxConcurrentCalls?: number;
  /** TLS with Node's options, terminated by the server itself (see {@link GrpcServerTls}); ignored when `credentials` are given. */
  tls?: GrpcServerTls;
  /** grpc-js server credentials (grpc-js then does TLS); default insecure, unless `tls` is given. */
  credentials?: ServerCredentials;
  /**
   * Called with each call's metadata (after the `magic` check); return false to
   * refuse it with `UNAUTHENTICATED`. For bearer tokens and the like.
   */
  authorize?: (metadata: Metadata, method: 'PushTensor' | 'PopTensor') => boolean | Promise<boolean>;
  /** Most tensors queued; PushTensor calls and local pushes wait while full. Default 1024. */
  capacity?: number;
  /** Most bytes of tensor data queued (an empty queue still takes one tensor). Default 64 MiB. */
  maxQueuedBytes?: number;
  /**
   * End the stream once every writer (PushTensor call or local `consumer()`)
   * has finished, so readers see the end. Default true; with false only `end()`
   * ends it.
   */
  endWithLastWriter?: boolean;
  /** HTTP/2 flow-control window in bytes, per stream and per connection. Default 16 MiB (a fast path: with fast paths off, HTTP/2's 64 KiB). */
  flowControlWindow?: number;
  /** Further grpc-js server options, passed through. */
  serverOptions?: ServerOptions;
  /**
   * Allow the fast paths on grpc-js internals: the HTTP/2 window set through
   * grpc-js's private fields, and large tensors handed to grpc-js as objects
   * it copies into its frame (only without compression and interceptors in
   * `serverOptions`). Default true, or false when the environment says
   * `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the grpc-js versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
}

/** Options of {@link GrpcServer.close}. */
export interface GrpcServerCloseOptions extends ServerCloseOptions {
  /**
   * How long to let clients finish (writers close, readers drain the queue)
   * before ending every call with `UNAVAILABLE`. Default 5000 ms.
   */
  timeoutMs?: number;
}

/** Bytes a PopTensor call may have written but not yet flushed before it stops taking from the queue. */
const POP_HIGH_WATER_BYTES = 4 * 1024 * 1024;

type Deserialized = Tensor | HarmonicsError;

interface ActiveCall {
  end(code: Status, details: string): void;
}

/**
 * A gRPC server for `harmonics.TensorService`, a broker like the C++ one: one
 * queue that PushTensor calls and local `push()` feed, and PopTensor calls and
 * local `pop()` drain (each tensor goes to one reader). `producer()` and
 * `consumer()` give local Producer/Consumer views of the queue.
 */
export class GrpcServer implements ListeningServer {
  readonly port: number;
  readonly host: string;
  /** The largest record taken or sent. */
  readonly maxMessageBytes: number;
  private readonly broker: Broker;
  private readonly calls = new Set<ActiveCall>();
  private closing: Promise<void> | undefined;
  private shutDown = false;

  private constructor(
    private readonly server: Server,
    private readonly listener: Http2Listener,
    host: string,
    maxMessageBytes: number,
    broker: Broker,
    /** Large tensors go to grpc-js as LazyTensorData (fast paths on, plain messages). */
    private readonly lazyMessages: boolean,
  ) {
    this.host = host;
    this.port = listener.port;
    this.maxMessageBytes = maxMessageBytes;
    this.broker = broker;
  }

  /** Start a server; resolves once it listens. */
  static async listen(options: GrpcServerOptions = {}): Promise<GrpcServer> {
    const maxMessageBytes = maxMessageBytesOf(options);
    checkPositive('capacity', options.capacity);
    checkPositive('maxQueuedBytes', options.maxQueuedBytes);
    const window = options.flowControlWindow ?? DEFAULT_FLOW_CONTROL_WINDOW;
    const host = options.host ?? '127.0.0.1';
    const grpcServer = new Server({
      'grpc.max_receive_message_length': maxMessageBytes + TENSOR_DATA_OVERHEAD,
      'grpc.max_send_message_length': maxMessageBytes + TENSOR_DATA_OVERHEAD,
      ...keepAliveOptions(options.keepAliveMs, options.keepAliveTimeoutMs, DEFAULT_SERVER_KEEPALIVE_MS),
      ...serverLimitOptions(options.idleTimeoutMs, options.maxConcurrentCalls),
      ...options.serverOptions,
    });
    const fast = fastPathsOn(options.fastPaths, GATE);
    setServerWindow(grpcServer, window, fast);
    const broker = new Broker(options.capacity ?? 1024, options.maxQueuedBytes ?? 64 * 1024 * 1024, options.endWithLastWriter ?? true);
    const listener = await listenGrpc(grpcServer, () => ServerCredentials.createInsecure(), { ...options, host });
    const server = new GrpcServer(grpcServer, listener, host, maxMessageBytes, broker, fast && plainMessages(options.serverOptions));
    grpcServer.addService(server.service(), {
      PushTensor: (call: ServerReadableStream<Deserialized, unknown>, callback: sendUnaryData<unknown>) =>
        server.onPush(call, callback, options.authorize),
      PopTensor: (call: ServerWritableStream<unknown, Buffer>) => server.onPop(call, options.authorize),
    });
    applyWindowToSessions(grpcServer, window, fast);
    return server;
  }

  private service(): ServiceDefinition {
    const max = this.maxMessageBytes;
    const deserializeTensor = (b: Buffer): Deserialized => {
      try {
        return decodeTensorData(b, max);
      } catch (err) {
        return err instanceof HarmonicsError ? err : new HarmonicsError('ERR_PROTOCOL', String(err), { cause: err });
      }
    };
    const identity = (b: Buffer): Buffer => b;
    return {
      PushTensor: {
        path: PUSH_PATH,
        requestStream: true,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: deserializeTensor,
        responseSerialize: encodeEmpty,
        responseDeserialize: decodeEmpty,
      },
      PopTensor: {
        path: POP_PATH,
        requestStream: false,
        responseStream: true,
        requestSerialize: encodeEmpty,
        requestDeserialize: decodeEmpty,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    };
  }

  /** `magic: HGRP` and the authorize hook; null when the call may go on, else the status to end it with. */
  private async admit(
    metadata: Metadata,
    method: 'PushTensor' | 'PopTensor',
    authorize: GrpcServerOptions['authorize'],
  ): Promise<{ code: Status; details: string } | null> {
    const magic = metadata.get(MAGIC_KEY);
    if (magic.length !== 1 || String(magic[0]) !== MAGIC_VALUE) {
      return { code: Status.PERMISSION_DENIED, details: BAD_HANDSHAKE };
    }
    // While closing, readers may still come to drain the queue; writers may not.
    if (this.closing !== undefined && (method === 'PushTensor' || this.shutDown)) {
      return { code: Status.UNAVAILABLE, details: SHUTTING_DOWN };
    }
    if (authorize !== undefined) {
      let ok = false;
      try {
        ok = await authorize(metadata, method);
      } catch {
        ok = false;
      }
      if (!ok) return { code: Status.UNAUTHENTICATED, details: `${method} refused by the server's authorize hook` };
    }
    return null;
  }

  private onPush(
    call: ServerReadableStream<Deserialized, unknown>,
    callback: sendUnaryData<unknown>,
    authorize: GrpcServerOptions['authorize'],
  ): void {
    const broker = this.broker;
    let done = false;
    let admitted = false;
    let cancelRoom: (() => void) | undefined;
    const finish = (code: Status, details: string, errorCode?: string): void => {
      if (done) return;
      done = true;
      this.calls.delete(active);
      cancelRoom?.();
      if (admitted) broker.detachWriter(code === Status.OK, details);
      if (code === Status.OK) callback(null, {});
      else {
        const md = new Metadata();
        if (errorCode !== undefined) md.set(ERROR_CODE_KEY, errorCode);
        callback({ code, details, metadata: md });
      }
    };
    const active: ActiveCall = { end: (code, details) => finish(code, details) };
    this.calls.add(active);
    call.pause();
    const onData = (item: Deserialized): void => {
      if (done) return;
      if (item instanceof HarmonicsError) {
        finish(Status.INVALID_ARGUMENT, item.message, item.code);
        return;
      }
      broker.put(item);
      if (broker.full && cancelRoom === undefined) {
        call.pause();
        cancelRoom = broker.onRoom(() => {
          cancelRoom = undefined;
          if (!done) call.resume();
        });
      }
    };
    call.on('data', onData);
    // A client that resets its call (a crash) also ends the request stream;
    // the reset is seen just after, so decide clean or broken a moment later.
    call.on('end', () => setImmediate(() => (call.cancelled ? finish(Status.CANCELLED, 'the client reset its call') : finish(Status.OK, 'OK'))));
    call.on('error', (err: Error) => finish(Status.CANCELLED, err.message));
    call.on('cancelled', () => finish(Status.CANCELLED, 'cancelled by the client'));
    this.admit(call.metadata, 'PushTensor', authorize).then(
      (refusal) => {
        if (done) return;
        if (refusal !== null) return finish(refusal.code, refusal.details);
        admitted = true;
        broker.attachWriter();
        call.sendMetadata(new Metadata());
        if (!broker.full) call.resume();
        else {
          cancelRoom = broker.onRoom(() => {
            cancelRoom = undefined;
            if (!done) call.resume();
          });
        }
      },
      (err: unknown) => finish(Status.INTERNAL, String(err)),
    );
  }

  private onPop(call: ServerWritableStream<unknown, Buffer>, authorize: GrpcServerOptions['authorize']): void {
    const broker = this.broker;
    let done = false;
    let pending = 0;
    let waitingForFlush = false;
    let cancelItem: (() => void) | undefined;
    // Stop taking from the queue shortly before the call's deadline, so the
    // deadline never strands tensors already taken for this call.
    const deadline = deadlineMs(call.getDeadline());
    const stopAt = deadline === Infinity ? Infinity : deadline - Math.min(1000, Math.max(0, deadline - Date.now()) / 4);
    const finish = (code: Status, details: string, errorCode?: string): void => {
      if (done) return;
      done = true;
      this.calls.delete(active);
      cancelItem?.();
      cancelItem = undefined;
      if (code === Status.OK) call.end();
      else {
        const md = new Metadata();
        if (errorCode !== undefined) md.set(ERROR_CODE_KEY, errorCode);
        call.emit('error', { code, details, metadata: md });
      }
    };
    const active: ActiveCall = { end: (code, details) => finish(code, details) };
    this.calls.add(active);
    const flushed = (len: number) => (): void => {
      pending -= len;
      if (waitingForFlush && pending <= POP_HIGH_WATER_BYTES) {
        waitingForFlush = false;
        pump();
      }
    };
    const pump = (): void => {
      cancelItem = undefined;
      while (!done) {
        if (pending > POP_HIGH_WATER_BYTES) {
          waitingForFlush = true;
          return;
        }
        if (Date.now() >= stopAt) return; // the deadline ends the call
        const t = broker.take();
        if (t !== undefined) {
          // The broker owns queued tensors (remote ones are its copies, local
          // ones are by reference), so grpc-js may copy them into its frame
          // whenever it sends: no copy of ours for large tensors.
          let msg: Buffer | LazyTensorData;
          try {
            msg = tensorMessage(t, this.lazyMessages);
          } catch (err) {
            // A tensor pushed locally that cannot be encoded: skip it, loudly.
            process.emitWarning(`GrpcServer: dropped a tensor that cannot be sent: ${String(err)}`);
            continue;
          }
          pending += msg.length;
          call.write(msg as Buffer, flushed(msg.length));
          continue;
        }
        if (broker.state === 'ended') return finish(Status.OK, 'OK');
        if (broker.state === 'failed') {
          return finish(Status.UNAVAILABLE, broker.failure!.message, broker.failure!.code);
        }
        cancelItem = broker.onItem(pump);
        return;
      }
    };
    call.on('cancelled', () => {
      done = true;
      this.calls.delete(active);
      cancelItem?.();
    });
    call.on('error', () => undefined);
    this.admit(call.metadata, 'PopTensor', authorize).then(
      (refusal) => {
        if (done) return;
        if (refusal !== null) return finish(refusal.code, refusal.details);
        call.sendMetadata(new Metadata());
        pump();
      },
      (err: unknown) => finish(Status.INTERNAL, String(err)),
    );
  }

  /** Tensors queued now. */
  get size(): number {
    return this.broker.size;
  }

  /**
   * Queue a tensor locally (by reference: do not modify it afterwards); waits
   * while the queue is full.
   * @throws HarmonicsError `ERR_CLOSED` once the stream has ended or the server closed; `ERR_TOO_LARGE` over maxMessageBytes.
   */
  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, 'GrpcServer.push()');
    const bytes = encodedByteLength(t);
    if (bytes > this.maxMessageBytes) throw tooLargeError('tensor record', bytes, this.maxMessageBytes);
    while (true) {
      if (this.closing !== undefined || this.broker.state === 'ended') throw closedError('this GrpcServer stream');
      if (!this.broker.full) {
        this.broker.put(t);
        return;
      }
      await this.wait((fn) => this.broker.onRoom(fn), signal, 'GrpcServer.push()');
    }
  }

  /**
   * Take the next tensor locally; waits while the queue is empty. Resolves
   * `undefined` once the stream has ended and is drained.
   * @throws HarmonicsError `ERR_CONNECTION_LOST` when the last writer broke off; `ERR_ABORTED`.
   */
  async pop(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, 'GrpcServer.pop()');
    while (true) {
      const t = this.broker.take();
      if (t !== undefined) return t;
      if (this.broker.state === 'ended') return undefined;
      if (this.broker.state === 'failed') throw this.broker.failure!;
      if (this.shutDown) throw closedError('this GrpcServer');
      await this.wait((fn) => this.broker.onItem(fn), signal, 'GrpcServer.pop()');
    }
  }

  /** @internal A tensor ready now, for the producer view's fast path. */
  takeReady(): Tensor | undefined {
    return this.broker.take();
  }

  private wait(register: (fn: () => void) => () => void, signal: AbortSignal | undefined, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        cancel();
        reject(abortError(signal, what));
      };
      const cancel = register(() => {
        signal?.removeEventListener('abort', onAbort);
        this.closeWaiters.delete(onClose);
        resolve();
      });
      const onClose = (): void => {
        cancel();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.closeWaiters.add(onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private readonly closeWaiters = new Set<() => void>();

  /** End the stream: readers drain what is queued and then see the end. */
  end(): void {
    this.broker.end();
  }

  /** A local Producer of the queue (alongside any PopTensor calls). */
  producer(): GrpcServerProducer {
    return new GrpcServerProducer(this);
  }

  /**
   * A local Consumer into the queue. It counts as a writer: with
   * `endWithLastWriter`, the stream ends when it and every PushTensor call are done.
   */
  consumer(): GrpcServerConsumer {
    this.broker.attachWriter();
    return new GrpcServerConsumer(this, () => this.broker.detachWriter(true));
  }

  /**
   * Stop: refuse new PushTensor calls and local pushes, give clients
   * `timeoutMs` (default 5 s) to finish (writers close, readers, new ones too,
   * drain the queue), then end every remaining call with `UNAVAILABLE` and
   * shut down. Tensors still queued then are dropped. Idempotent.
   */
  close(options: GrpcServerCloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? 5000);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    // Graceful part: writers may finish, readers (also new ones) may drain the queue.
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (this.calls.size > 0 || this.broker.size > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.shutDown = true;
    for (const c of [...this.calls]) c.end(Status.UNAVAILABLE, SHUTTING_DOWN);
    this.broker.dispose();
    for (const fn of [...this.closeWaiters]) fn();
    this.closeWaiters.clear();
    this.listener.stopAccepting();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.listener.destroyAll();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The local Producer view of a {@link GrpcServer}'s queue. */
export class GrpcServerProducer extends BaseProducer {
  private closed = false;
  /** Aborted by close(): a pending next() stops waiting and takes nothing from the queue. */
  private readonly closing = new AbortController();

  constructor(private readonly server: GrpcServer) {
    super();
  }

  protected override readReady(): Tensor | undefined {
    return this.closed ? undefined : this.server.takeReady();
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) throw closedError('GrpcServer producer');
    const callerSignal = options?.signal;
    if (callerSignal === undefined) return this.popUntilClosed(this.closing.signal);
    // Stop waiting on the caller's abort or on close(), whichever comes first.
    const both = new AbortController();
    const abortBoth = (): void => both.abort(callerSignal.aborted ? callerSignal.reason : undefined);
    callerSignal.addEventListener('abort', abortBoth, { once: true });
    this.closing.signal.addEventListener('abort', abortBoth, { once: true });
    if (callerSignal.aborted || this.closing.signal.aborted) abortBoth();
    try {
      return await this.popUntilClosed(both.signal);
    } finally {
      callerSignal.removeEventListener('abort', abortBoth);
      this.closing.signal.removeEventListener('abort', abortBoth);
    }
  }

  private async popUntilClosed(signal: AbortSignal): Promise<Tensor | undefined> {
    try {
      return await this.server.pop({ signal });
    } catch (err) {
      if (this.closed) throw closedError('GrpcServer producer');
      throw err;
    }
  }

  /** Ends this view: a pending `next()` rejects `ERR_CLOSED` and takes nothing from the queue. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
  }
}

/** The local Consumer view of a {@link GrpcServer}'s queue. */
export class GrpcServerConsumer extends BaseConsumer {
  private closed = false;

  constructor(
    private readonly server: GrpcServer,
    private readonly onClose: () => void,
  ) {
    super();
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('GrpcServer consumer'));
    return this.server.push(t, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

function deadlineMs(d: Date | number): number {
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : Infinity;
}
