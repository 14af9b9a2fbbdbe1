import type { TlsOptions } from 'node:tls';
import {
  Metadata,
  Server,
  type ServerCredentials,
  ServerCredentials as Credentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerOptions,
  type sendUnaryData,
  status as Status,
} from '@grpc/grpc-js';
import {
  type AbortOptions,
  type ErrorCode,
  HarmonicsError,
  type ListeningServer,
  type ServerCloseOptions,
  type Tensor,
  encodedByteLength,
  tensorBytes,
} from '@harmonics/core';
import {
  Ring,
  abortError,
  checkPositive,
  closedError,
  keepAliveOptions,
  maxMessageBytesOf,
  serverLimitOptions,
  tooLargeError,
} from '@harmonics/internal';
import { type Http2Listener, applyWindowToSessions, fastPathsOn, listenGrpc, plainMessages, setServerWindow } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import { BatchDecoder, batchHeader, receiveLayout } from './arrow.js';
import { DEFAULT_FLOW_CONTROL_WINDOW, DEFAULT_SERVER_KEEPALIVE_MS, DEFAULT_STREAM, END_ACTION, WRITER_KEY } from './client.js';
import { CONTINUES_KEY, SHUTTING_DOWN, statusMetadata } from './errors.js';
import { LazyFlightData, flightData, parseFlightData } from './flight-data.js';
import { cachedLayout } from './layouts.js';
import {
  DESCRIPTOR_CMD,
  DESCRIPTOR_PATH,
  type FlightDescriptor,
  decodeAction,
  decodeDescriptor,
  decodeTicket,
  decodeUtf8,
  encodeActionType,
  encodeBytesField,
  encodeFlightInfo,
  encodeSchemaResult,
  encodeUtf8,
  ProtoReader,
} from './proto.js';
import { type DirectStream, directWrites, serverStreamOf, writeMessage } from './direct.js';
import { flightService } from './service.js';
import { waitFor } from './wait.js';
import { QueueBudget, type StreamItem, type StreamOptions, type StreamReader, TensorStream } from './stream.js';

/** Bytes written to a DoGet call and not yet taken by HTTP/2 before the server waits. */
const GET_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Most bytes of tensors one DoGet record batch carries (a larger tensor goes alone). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** What a handshake hook receives. */
export interface HandshakeRequest {
  /** The payload of the client's HandshakeRequest (empty for header-based auth). */
  payload: Uint8Array;
  /** From an `authorization: Basic …` header (pyarrow's `authenticate_basic_token`), when present. */
  username?: string;
  password?: string;
  metadata: Metadata;
}

/** Options of an in-memory {@link TensorFlightServer}; `listen` takes these too. */
export interface TensorFlightServerOptions {
  /** Tensors a queue stream holds before writers wait (DoPut calls are paused). Default: no count limit (bytes bound it). */
  capacity?: number;
  /**
   * Bytes a queue stream holds before writers wait: its tensors' data plus
   * 256 bytes per tensor (so tiny tensors are bounded too). An empty queue
   * still takes one tensor. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /** Bytes all queue streams hold together (counted as `maxQueuedBytes`) before every writer waits. Default 512 MiB. */
  maxTotalQueuedBytes?: number;
  /**
   * Streams the server holds. Creating one more (a DoPut or DoGet of a new
   * name) first forgets queue streams that ended and were drained; if still
   * at the limit, the call is refused with RESOURCE_EXHAUSTED. Default 1024.
   */
  maxStreams?: number;
  /** Streams created on first use keep every tensor for replay (see `createStream`). Default false. */
  retain?: boolean;
  /**
   * Map a DoGet ticket to a stream name, for clients that build their own
   * tickets; return `undefined` to refuse it (NOT_FOUND). Default: the
   * ticket's UTF-8 bytes are the name (what our FlightInfo endpoints carry).
   */
  resolveTicket?: (ticket: Uint8Array) => string | undefined | Promise<string | undefined>;
  /**
   * Largest tensor accepted, locally or in a DoPut, counted as its DESIGN §4
   * record (header and data); a DoPut whose schema announces bigger tensors
   * is refused at the schema (`RESOURCE_EXHAUSTED`, `ERR_TOO_LARGE`).
   * Default 256 MiB (gRPC's own default is 4 MiB).
   */
  maxMessageBytes?: number;
  /** @deprecated The old name of {@link maxMessageBytes}; removed in the next minor release. */
  maxMessageSize?: number;
}

/**
 * TLS for the server: Node's `tls.createServer` options, all of them (`key`,
 * `cert`, `ca` with `requestCert` for mutual TLS, `pfx`, `SNICallback`,
 * `minVersion`…). The server terminates TLS itself; ALPN defaults to `h2`.
 */
export type FlightServerTls = TlsOptions;

/** Options of {@link TensorFlightServer.listen}. */
export interface TensorFlightListenOptions extends TensorFlightServerOptions {
  /** Default 0 (a free port; read `.port`). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** TLS with Node's options, terminated by the server itself (see {@link FlightServerTls}); ignored when `credentials` are given. */
  tls?: FlightServerTls;
  /** grpc-js server credentials (grpc-js then does TLS); default insecure, unless `tls` is given. */
  credentials?: ServerCredentials;
  /**
   * Handshake: return the bearer token the client is to send on every call
   * (it goes back in the `authorization: Bearer …` header and as the
   * response payload), or `undefined` to refuse (UNAUTHENTICATED).
   * Without it, Handshake succeeds with an empty payload.
   */
  handshake?: (request: HandshakeRequest) => string | undefined | Promise<string | undefined>;
  /**
   * Checked on every call but Handshake with the token of its
   * `authorization: Bearer …` header (`undefined` without one); false refuses
   * the call with UNAUTHENTICATED.
   */
  verifyToken?: (token: string | undefined, method: string, metadata: Metadata) => boolean | Promise<boolean>;
  /** HTTP/2 flow-control window per stream and connection. Default 16 MiB. */
  flowControlWindow?: number;
  /**
   * DoGet writes its messages straight to the HTTP/2 stream under grpc-js,
   * tensors as they are (no copy). False sends them through grpc-js, which
   * copies each into a new buffer. Default true (a fast path: off with
   * `fastPaths: false`); it falls back by itself when the call is not the
   * plain one it expects (e.g. with interceptors).
   */
  directWrites?: boolean;
  /**
   * Allow the fast paths on grpc-js internals: direct writes, the HTTP/2
   * window set through grpc-js's private fields, and large bodies handed to
   * grpc-js as objects it copies into its frame (only without compression
   * and interceptors in `serverOptions`). Default true, or false when the
   * environment says `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the grpc-js versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
  /**
   * Ping each client after this many ms of quiet and drop its connection when
   * the ping goes unanswered for `keepAliveTimeoutMs`: the calls of a client
   * that vanished without closing end (its DoPut counts as broken off, its
   * DoGet stops taking tensors). Default 20 000; 0 turns it off.
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
  /**
   * A DoGet for a stream that no writer has created (nor `createStream`)
   * waits this long for a writer to come, then ends with NOT_FOUND, as
   * GetFlightInfo answers for it; readers may start before writers, but a
   * mistyped stream name is not waited on forever. Default 30 000.
   */
  unknownStreamTimeoutMs?: number;
  /** Further grpc-js server options. */
  serverOptions?: ServerOptions;
}

/** What `listStreams()` and ListFlights report. */
export interface StreamInfo {
  name: string;
  state: 'open' | 'ended' | 'failed';
  retain: boolean;
  /** Tensors a new reader would get now. */
  size: number;
  /** Their data bytes. */
  bytes: number;
}

interface ActiveCall {
  end(code: Status, details: string): void;
}

const ACTIONS: [string, string][] = [
  [END_ACTION, 'End a writer of a stream (body: JSON {"stream", "writer"}): once no writer is left, readers drain the stream and finish.'],
];

/**
 * An Arrow Flight server for tensors, with named streams.
 *
 * - In memory: `new TensorFlightServer()`, then `putTensor` / `getTensor`, or
 *   `new FlightConsumer(server)` / `new FlightProducer(server)`.
 * - Networked: `await TensorFlightServer.listen({ port })` serves DoPut (append
 *   to the stream named by the descriptor's path), DoGet (stream it out to the
 *   ticket holder, waiting for more while it is open), GetFlightInfo,
 *   GetSchema, ListFlights, Handshake, DoAction and ListActions of
 *   `arrow.flight.protocol.FlightService`.
 *
 * A stream is a queue (each tensor goes to one reader) unless created with
 * `retain`. It ends when its writers are done: a plain Flight client's DoPut
 * when it completes, a FlightConsumer when it closes (it may use several
 * DoPuts, one per schema).
 */
export class TensorFlightServer implements ListeningServer {
  private readonly streams = new Map<string, TensorStream>();
  private readonly calls = new Set<ActiveCall>();
  private grpc: Server | undefined;
  /** Fast paths on and plain messages: large bodies as LazyFlightData, DoGet writing straight to HTTP/2. */
  private fast = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  readonly capacity: number;
  readonly maxQueuedBytes: number;
  readonly maxStreams: number;
  private readonly budget: QueueBudget;
  private readonly retainDefault: boolean;
  private readonly resolveTicketHook: TensorFlightServerOptions['resolveTicket'];
  private listening: { port: number; host: string; listener: Http2Listener } | undefined;
  /** The largest tensor record taken or sent. */
  readonly maxMessageBytes: number;

  constructor(options: TensorFlightServerOptions = {}) {
    checkPositive('capacity', options.capacity);
    this.maxMessageBytes = maxMessageBytesOf(options);
    checkPositive('maxQueuedBytes', options.maxQueuedBytes);
    checkPositive('maxTotalQueuedBytes', options.maxTotalQueuedBytes);
    checkPositive('maxStreams', options.maxStreams);
    this.capacity = options.capacity ?? Infinity;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.budget = new QueueBudget(options.maxTotalQueuedBytes ?? 512 * 1024 * 1024);
    this.maxStreams = options.maxStreams ?? 1024;
    this.retainDefault = options.retain ?? false;
    this.resolveTicketHook = options.resolveTicket;
  }

  /** The port a networked server listens on; `undefined` for one in memory. */
  get port(): number | undefined {
    return this.listening?.port;
  }

  /** The host a networked server is bound to; `undefined` for one in memory. */
  get host(): string | undefined {
    return this.listening?.host;
  }

  /** Start a networked server; resolves once it listens (`.port` is then set). */
  static async listen(options: TensorFlightListenOptions = {}): Promise<TensorFlightServer> {
    checkPositive('unknownStreamTimeoutMs', options.unknownStreamTimeoutMs);
    const server = new TensorFlightServer(options);
    const maxMessageBytes = server.maxMessageBytes;
    const window = options.flowControlWindow ?? DEFAULT_FLOW_CONTROL_WINDOW;
    const host = options.host ?? '127.0.0.1';
    const grpc = new Server({
      // Flight messages add a few hundred bytes of framing to the tensors.
      'grpc.max_receive_message_length': maxMessageBytes + 64 * 1024,
      'grpc.max_send_message_length': -1,
      ...keepAliveOptions(options.keepAliveMs, options.keepAliveTimeoutMs, DEFAULT_SERVER_KEEPALIVE_MS),
      ...serverLimitOptions(options.idleTimeoutMs, options.maxConcurrentCalls),
      ...options.serverOptions,
    });
    const fast = fastPathsOn(options.fastPaths, GATE);
    setServerWindow(grpc, window, fast);
    const listener = await listenGrpc(grpc, () => Credentials.createInsecure(), { ...options, host });
    server.grpc = grpc;
    server.fast = fast && plainMessages(options.serverOptions);
    server.listening = { port: listener.port, host, listener };
    grpc.addService(flightService(), server.handlers(options));
    applyWindowToSessions(grpc, window, fast);
    return server;
  }

  // ---- local API -------------------------------------------------------------

  /**
   * Create a stream, or change an unused one: `retain` keeps every tensor and
   * replays the whole stream to each reader. Returns its description.
   */
  createStream(name: string, options: StreamOptions = {}): StreamInfo {
    checkName(name);
    const existing = this.streams.get(name);
    if (existing !== undefined) {
      if ((options.retain ?? this.retainDefault) !== existing.retain && existing.total > 0) {
        throw new HarmonicsError('ERR_PROTOCOL', `stream ${JSON.stringify(name)} exists already with retain: ${existing.retain}`);
      }
      if (existing.total === 0 && options.retain !== undefined && options.retain !== existing.retain) this.streams.delete(name);
      else {
        existing.known = true;
        return describe(existing);
      }
    }
    const created = this.stream(name, options.retain);
    created.known = true;
    return describe(created);
  }

  /** The streams and what they hold. */
  listStreams(): StreamInfo[] {
    return [...this.streams.values()].map(describe);
  }

  /**
   * Append a tensor to a stream (by reference: do not modify it afterwards);
   * waits while a queue stream is full.
   * @throws HarmonicsError `ERR_CLOSED` once the server closed; `ERR_TOO_LARGE` over maxMessageBytes.
   */
  async putTensor(t: Tensor, options: { stream?: string } & AbortOptions = {}): Promise<void> {
    const record = encodedByteLength(t);
    if (record > this.maxMessageBytes) throw tooLargeError('tensor record', record, this.maxMessageBytes);
    const s = this.stream(options.stream ?? DEFAULT_STREAM);
    const signal = options.signal;
    while (true) {
      if (signal?.aborted) throw abortError(signal, 'TensorFlightServer.putTensor()');
      if (this.closing !== undefined) throw closedError('this TensorFlightServer');
      if (!s.full) {
        s.put(t);
        return;
      }
      await waitFor((fn) => s.onRoom(fn), signal, 'TensorFlightServer.putTensor()');
    }
  }

  /**
   * Take the next tensor of a stream (for a retained stream: the first one),
   * waiting while the stream is open; `undefined` once it ended.
   * @throws HarmonicsError the stream's failure (a writer that broke), `ERR_ABORTED`.
   */
  async getTensor(options: { stream?: string } & AbortOptions = {}): Promise<Tensor | undefined> {
    const s = this.stream(options.stream ?? DEFAULT_STREAM);
    const r = s.newReader();
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal, 'TensorFlightServer.getTensor()');
      const t = s.poll(r);
      if (t !== null) return t;
      await waitFor((wake) => s.onItem(wake), options.signal, 'TensorFlightServer.getTensor()');
    }
  }

  /** Forget queue streams that ended (or failed) and hold nothing: their readers are done with them. */
  private forgetDrained(): void {
    for (const [name, s] of this.streams) {
      const drained = !s.retain && s.state !== 'open' && s.size === 0;
      const unused = !s.known && s.total === 0 && s.waitingReaders === 0;
      if (drained || unused) this.streams.delete(name);
    }
  }

  /** End a stream: readers get what it holds, then the end. */
  endStream(name = DEFAULT_STREAM): void {
    this.streams.get(name)?.end();
  }

  /** @internal the stream named `name`, created (open, empty) on first use. */
  stream(name: string, retain?: boolean): TensorStream {
    let s = this.streams.get(name);
    if (s === undefined) {
      checkName(name);
      if (this.closed || this.closing !== undefined) throw closedError('this TensorFlightServer');
      if (this.streams.size >= this.maxStreams) this.forgetDrained();
      if (this.streams.size >= this.maxStreams) {
        throw status(
          Status.RESOURCE_EXHAUSTED,
          `this server holds ${this.streams.size} streams (maxStreams); end and drain some, or raise maxStreams`,
          'ERR_CONNECT',
        );
      }
      s = new TensorStream(name, retain ?? this.retainDefault, this.capacity, this.maxQueuedBytes, this.budget);
      this.streams.set(name, s);
    }
    return s;
  }

  /**
   * Close: end every stream (readers drain them), stop accepting calls, and
   * after `timeoutMs` (default 2 s) end the calls still running.
   */
  close(options: ServerCloseOptions = {}): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = this.shutdown(options.timeoutMs ?? 2000);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    for (const s of this.streams.values()) s.end();
    const grpc = this.grpc;
    const listener = this.listening?.listener;
    listener?.stopAccepting();
    if (grpc !== undefined) {
      const graceful = new Promise<void>((resolve) => grpc.tryShutdown(() => resolve()));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)));
      const late = await Promise.race([graceful.then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) {
        for (const c of [...this.calls]) c.end(Status.UNAVAILABLE, SHUTTING_DOWN);
        grpc.forceShutdown();
      }
    }
    listener?.destroyAll();
    this.closed = true;
  }

  // ---- the Flight service --------------------------------------------------------

  private handlers(options: TensorFlightListenOptions) {
    const guard =
      <C extends { metadata: Metadata }>(method: string, fn: (call: C) => void, refuse: (call: C, code: Status, details: string) => void) =>
      (call: C): void => {
        const verify = options.verifyToken;
        if (verify === undefined) return fn(call);
        const header = call.metadata.get('authorization')[0];
        const token = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
        Promise.resolve()
          .then(() => verify(token, method, call.metadata))
          .then(
            (ok) => (ok ? fn(call) : refuse(call, Status.UNAUTHENTICATED, `${method} refused: missing or invalid bearer token`)),
            (err: unknown) => refuse(call, Status.UNAUTHENTICATED, `${method} refused: ${String(err)}`),
          );
      };
    const refuseStream = (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>, code: Status, details: string): void => {
      call.emit('error', { code, details, metadata: new Metadata() });
    };
    const unary =
      (method: string, fn: (call: ServerUnaryCall<Buffer, Buffer>) => Promise<Buffer>) =>
      (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
        guard<ServerUnaryCall<Buffer, Buffer>>(
          method,
          (c) => {
            fn(c).then(
              (res) => callback(null, res),
              (err: unknown) => callback(toStatus(err)),
            );
          },
          (_c, code, details) => callback({ code, details }),
        )(call);
      };
    return {
      Handshake: (call: ServerDuplexStream<Buffer, Buffer>) => this.onHandshake(call, options.handshake),
      ListFlights: guard(
        'ListFlights',
        (call: ServerWritableStream<Buffer, Buffer>) => {
          for (const s of this.streams.values()) call.write(encodeFlightInfo(this.info(s)));
          call.end();
        },
        refuseStream,
      ),
      GetFlightInfo: unary('GetFlightInfo', async (call) => encodeFlightInfo(this.info(this.described(call.request)))),
      PollFlightInfo: unary('PollFlightInfo', async () => {
        throw status(Status.UNIMPLEMENTED, 'PollFlightInfo is not implemented; use GetFlightInfo');
      }),
      GetSchema: unary('GetSchema', async (call) => {
        const s = this.described(call.request);
        const schema = this.schemaOf(s);
        if (schema === undefined) throw status(Status.NOT_FOUND, `stream ${JSON.stringify(s.name)} has no schema yet (nothing was put)`);
        return encodeSchemaResult(schema);
      }),
      DoGet: guard('DoGet', (call: ServerWritableStream<Buffer, Buffer>) => this.onDoGet(call, options), refuseStream),
      DoPut: guard('DoPut', (call: ServerDuplexStream<Buffer, Buffer>) => this.onDoPut(call), refuseStream),
      DoExchange: (call: ServerDuplexStream<Buffer, Buffer>) =>
        refuseStream(call, Status.UNIMPLEMENTED, 'DoExchange is not implemented; use DoPut and DoGet'),
      DoAction: guard(
        'DoAction',
        (call: ServerWritableStream<Buffer, Buffer>) => {
          try {
            this.onAction(call.request);
            call.end();
          } catch (err) {
            const st = toStatus(err);
            refuseStream(call, st.code, st.details);
          }
        },
        refuseStream,
      ),
      ListActions: guard(
        'ListActions',
        (call: ServerWritableStream<Buffer, Buffer>) => {
          for (const [type, description] of ACTIONS) call.write(encodeActionType(type, description));
          call.end();
        },
        refuseStream,
      ),
    };
  }

  private described(request: Buffer): TensorStream {
    const name = descriptorName(decodeDescriptor(request));
    const s = this.streams.get(name);
    if (s === undefined) throw status(Status.NOT_FOUND, `no stream named ${JSON.stringify(name)} on this server`);
    return s;
  }

  /** The encapsulated schema of what a reader of `s` would get next (else of the last tensor put). */
  private schemaOf(s: TensorStream): Uint8Array | undefined {
    const r = s.newReader();
    const t = s.available(r) > 0 ? s.peek(r, 0).tensor : s.last;
    return t === undefined ? undefined : cachedLayout(t.dtype, t.shape).ipcSchema;
  }

  private info(s: TensorStream) {
    return {
      schema: this.schemaOf(s) ?? new Uint8Array(0),
      descriptor: { type: DESCRIPTOR_PATH, path: [s.name] },
      endpoints: [{ ticket: encodeUtf8(s.name), locations: [] }],
      totalRecords: s.size,
      totalBytes: s.bytes,
      ordered: true,
    };
  }

  private onAction(request: Buffer): void {
    const action = decodeAction(request);
    if (action.type !== END_ACTION) {
      throw status(Status.UNIMPLEMENTED, `unknown action ${JSON.stringify(action.type)}; ListActions names the ones served`);
    }
    let body: { stream?: unknown; writer?: unknown };
    try {
      body = JSON.parse(decodeUtf8(action.body, 'Action'));
    } catch {
      throw status(Status.INVALID_ARGUMENT, `${END_ACTION} takes a JSON body {"stream", "writer"}`);
    }
    if (typeof body?.stream !== 'string') throw status(Status.INVALID_ARGUMENT, `${END_ACTION}: "stream" must be a string`);
    // A writer that never sent anything (or whose DoPuts are done) leaves; an unknown stream is not created for it.
    this.streams.get(body.stream)?.detach(typeof body.writer === 'string' ? body.writer : undefined);
  }

  private onHandshake(call: ServerDuplexStream<Buffer, Buffer>, hook: TensorFlightListenOptions['handshake']): void {
    let done = false;
    const answer = (payload: Uint8Array): void => {
      if (done) return;
      done = true;
      const md = new Metadata();
      const token = Buffer.from(payload).toString('utf8');
      if (hook !== undefined) md.set('authorization', `Bearer ${token}`);
      call.sendMetadata(md);
      call.write(encodeBytesField(2, payload));
      call.end();
    };
    const refuse = (details: string): void => {
      if (done) return;
      done = true;
      call.emit('error', { code: Status.UNAUTHENTICATED, details, metadata: new Metadata() });
    };
    const run = (payload: Uint8Array): void => {
      if (hook === undefined) return answer(new Uint8Array(0));
      const request: HandshakeRequest = { payload, metadata: call.metadata };
      const basic = call.metadata.get('authorization')[0];
      if (typeof basic === 'string' && /^basic /i.test(basic)) {
        const decoded = Buffer.from(basic.slice(6).trim(), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        request.username = colon < 0 ? decoded : decoded.slice(0, colon);
        request.password = colon < 0 ? '' : decoded.slice(colon + 1);
      }
      Promise.resolve()
        .then(() => hook(request))
        .then(
          (token) => (typeof token === 'string' ? answer(encodeUtf8(token)) : refuse('handshake refused')),
          (err: unknown) => refuse(`handshake refused: ${String(err)}`),
        );
    };
    call.on('error', () => undefined);
    let started = false;
    call.on('data', (b: Buffer) => {
      if (started) return;
      started = true;
      let payload: Uint8Array;
      try {
        const r = new ProtoReader(b, 'HandshakeRequest');
        payload = new Uint8Array(0);
        for (let f = r.next(); f !== undefined; f = r.next()) if (f.field === 2 && f.wireType === 2) payload = f.bytes.slice();
      } catch (err) {
        return refuse(String(err));
      }
      run(payload);
    });
    call.on('end', () => {
      if (!started) {
        started = true;
        run(new Uint8Array(0));
      }
    });
  }

  private onDoPut(call: ServerDuplexStream<Buffer, Buffer>): void {
    const writer = call.metadata.get(WRITER_KEY)[0];
    const session = typeof writer === 'string' && writer !== '' ? writer : undefined;
    let stream: TensorStream | undefined;
    let decoder: BatchDecoder | undefined;
    let done = false;
    let cancelRoom: (() => void) | undefined;
    const finish = (code: Status, details: string, errorCode?: string): void => {
      if (done) return;
      done = true;
      this.calls.delete(active);
      cancelRoom?.();
      if (stream !== undefined) {
        if (code === Status.OK) {
          if (session === undefined) stream.detach();
        } else {
          stream.fail(new HarmonicsError('ERR_CONNECTION_LOST', `a writer of stream ${JSON.stringify(stream.name)} broke: ${details}`), session);
        }
      }
      if (code === Status.OK) call.end();
      else call.emit('error', { code, details, metadata: statusMetadata(errorCode) });
    };
    const active: ActiveCall = { end: (code, details) => finish(code, details) };
    this.calls.add(active);
    const onData = (b: Buffer): void => {
      if (done) return;
      try {
        const fd = parseFlightData(b);
        if (stream === undefined) {
          if (fd.descriptor === undefined) {
            throw new HarmonicsError('ERR_PROTOCOL', 'the first FlightData of a DoPut must carry the flight descriptor');
          }
          if (this.closing !== undefined) return finish(Status.UNAVAILABLE, SHUTTING_DOWN);
          stream = this.stream(descriptorName(decodeDescriptor(fd.descriptor)));
          stream.attach(session);
        }
        if (fd.header.length === 0) return; // app_metadata only
        if (decoder === undefined) {
          decoder = new BatchDecoder(receiveLayout(fd.header), this.maxMessageBytes);
          return;
        }
        const key = decoder.layout.key;
        for (const t of decoder.decode(fd.header, fd.body)) stream.put(t, key);
        if (stream.full && cancelRoom === undefined) {
          call.pause();
          const s = stream;
          const wait = (): void => {
            cancelRoom = undefined;
            if (done) return;
            if (s.full && s.state === 'open') cancelRoom = s.onRoom(wait);
            else call.resume();
          };
          cancelRoom = s.onRoom(wait);
        }
      } catch (err) {
        if (!(err instanceof HarmonicsError) && typeof (err as Partial<StatusError>)?.code === 'number') {
          const st = err as StatusError;
          return finish(st.code, st.details, st.errorCode);
        }
        const e = err instanceof HarmonicsError ? err : new HarmonicsError('ERR_PROTOCOL', String(err), { cause: err });
        finish(Status.INVALID_ARGUMENT, e.message, e.code);
      }
    };
    call.on('data', onData);
    // A client that resets its call (a crash) also ends the request stream;
    // the reset is seen just after, so decide clean or broken a moment later.
    call.on('end', () => setImmediate(() => (call.cancelled ? finish(Status.CANCELLED, 'the client reset its call') : finish(Status.OK, 'OK'))));
    call.on('error', (err: Error) => finish(Status.CANCELLED, err.message));
    call.on('cancelled', () => finish(Status.CANCELLED, 'cancelled by the client'));
  }

  private onDoGet(call: ServerWritableStream<Buffer, Buffer>, options: TensorFlightListenOptions): void {
    let done = false;
    let pending = 0;
    let waitingForFlush = false;
    let cancelItem: (() => void) | undefined;
    let stream: TensorStream | undefined;
    let reader: StreamReader | undefined;
    let sentKey: string | undefined;
    let unknownTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: Status, details: string, errorCode?: string, trailers?: Record<string, string>): void => {
      if (done) return;
      done = true;
      clearTimeout(unknownTimer);
      this.calls.delete(active);
      cancelItem?.();
      cancelItem = undefined;
      if (code === Status.OK) {
        if (trailers !== undefined) call.end(statusMetadata(undefined, trailers));
        else call.end();
      } else call.emit('error', { code, details, metadata: statusMetadata(errorCode) });
    };
    const active: ActiveCall = { end: (code, details) => finish(code, details) };
    this.calls.add(active);
    // Sizes of the messages written and not yet called back, in order: one callback for the call, not a closure per message.
    const sizes = new Ring<number>();
    const flushed = (): void => {
      pending -= sizes.shift() ?? 0;
      if (waitingForFlush && pending <= GET_HIGH_WATER_BYTES) {
        waitingForFlush = false;
        pump();
      }
    };
    // Decided at the first message, so that every message of the call takes the same path (in order).
    let direct: DirectStream | undefined | null = null;
    const write = (msg: Buffer | LazyFlightData): void => {
      pending += msg.length;
      sizes.push(msg.length);
      if (direct === null) direct = options.directWrites === false || !this.fast ? undefined : serverStreamOf(call);
      if (direct === undefined) {
        call.write(msg as Buffer, flushed);
        return;
      }
      directWrites.server++;
      writeMessage(direct, msg, flushed);
    };
    const sendSchema = (t: Pick<Tensor, 'dtype' | 'shape'>, key: string): void => {
      write(flightData({ header: cachedLayout(t.dtype, t.shape, key).schemaMessage, body: [], bodyLength: 0 }));
      sentKey = key;
    };
    const pump = (): void => {
      cancelItem = undefined;
      const s = stream!;
      const r = reader!;
      while (!done) {
        if (pending > GET_HIGH_WATER_BYTES) {
          waitingForFlush = true;
          return;
        }
        const n = s.available(r);
        if (n > 0) {
          const first: StreamItem = s.peek(r, 0);
          if (sentKey === undefined) sendSchema(first.tensor, first.key);
          else if (first.key !== sentKey) {
            // One schema per DoGet (Arrow IPC); our clients follow on with a new call.
            return finish(Status.OK, 'OK', undefined, { [CONTINUES_KEY]: '1' });
          }
          const layout = cachedLayout(first.tensor.dtype, first.tensor.shape, first.key);
          const parts: Uint8Array[] = [];
          let bytes = 0;
          let rows = 0;
          while (rows < n) {
            const item = s.peek(r, rows);
            if (item.key !== first.key || (rows > 0 && bytes + layout.rowBytes > MAX_BATCH_BYTES)) break;
            parts.push(tensorBytes(item.tensor));
            bytes += layout.rowBytes;
            rows++;
          }
          s.advance(r, rows);
          // The stream owns its tensors (remote ones are views of received
          // messages, local ones are the caller's by contract), so they are
          // written as they are, whenever HTTP/2 takes them: no copy of ours.
          write(flightData({ header: batchHeader(layout, rows), body: parts, bodyLength: (bytes + 7) & ~7 }, this.fast));
          continue;
        }
        if (s.state === 'ended') {
          if (sentKey === undefined && s.last !== undefined) sendSchema(s.last, s.last.key);
          return finish(Status.OK, 'OK');
        }
        if (s.state === 'failed') return finish(Status.UNAVAILABLE, s.failure!.message, s.failure!.code);
        cancelItem = s.onItem(pump);
        return;
      }
    };
    call.on('cancelled', () => {
      done = true;
      clearTimeout(unknownTimer);
      this.calls.delete(active);
      cancelItem?.();
    });
    call.on('error', () => undefined);
    Promise.resolve()
      .then(async () => {
        const ticket = decodeTicket(call.request);
        const name = this.resolveTicketHook !== undefined ? await this.resolveTicketHook(ticket) : decodeUtf8(ticket, 'Ticket');
        if (name === undefined || name === '') throw status(Status.NOT_FOUND, 'unknown ticket');
        return name;
      })
      .then(
        (name) => {
          if (done) return;
          let s: TensorStream;
          try {
            s = stream = this.stream(name);
          } catch (err) {
            const st = toStatus(err);
            return finish(st.code, st.details, st.errorCode);
          }
          reader = s.newReader();
          call.sendMetadata(new Metadata());
          if (!s.known && s.total === 0) {
            const waitMs = options.unknownStreamTimeoutMs ?? 30_000;
            unknownTimer = setTimeout(() => {
              if (s.known || s.total > 0) return;
              finish(
                Status.NOT_FOUND,
                `no stream named ${JSON.stringify(name)}: no writer came within ${waitMs} ms (unknownStreamTimeoutMs); check the ticket or stream name`,
              );
            }, waitMs);
          }
          pump();
        },
        (err: unknown) => {
          const st = toStatus(err);
          finish(st.code, st.details);
        },
      );
  }
}

function describe(s: TensorStream): StreamInfo {
  return { name: s.name, state: s.state, retain: s.retain, size: s.size, bytes: s.bytes };
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name === '') {
    throw new HarmonicsError('ERR_PROTOCOL', `a stream name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
}

/** A descriptor's stream: its path joined with '/', or a command's UTF-8 text. */
function descriptorName(d: FlightDescriptor): string {
  if (d.type === DESCRIPTOR_CMD && d.cmd !== undefined) return decodeUtf8(d.cmd, 'FlightDescriptor');
  const name = (d.path ?? []).join('/');
  if (name === '') throw status(Status.INVALID_ARGUMENT, 'the flight descriptor names no stream (empty path)');
  return name;
}

interface StatusError {
  code: Status;
  details: string;
  /** The Harmonics code our clients rethrow (sent in the trailers). */
  errorCode?: ErrorCode;
}

function status(code: Status, details: string, errorCode?: ErrorCode): StatusError & Error {
  return Object.assign(new Error(details), { code, details, errorCode });
}

function toStatus(err: unknown): StatusError & { metadata?: Metadata } {
  if (err instanceof HarmonicsError) {
    const code = err.code === 'ERR_CLOSED' ? Status.UNAVAILABLE : Status.INVALID_ARGUMENT;
    return { code, details: err.message, errorCode: err.code, metadata: statusMetadata(err.code) };
  }
  const e = err as Partial<StatusError>;
  if (typeof e?.code === 'number') {
    return {
      code: e.code,
      details: e.details ?? String(err),
      errorCode: e.errorCode,
      metadata: e.errorCode ? statusMetadata(e.errorCode) : undefined,
    };
  }
  return { code: Status.INTERNAL, details: String(err) };
}
