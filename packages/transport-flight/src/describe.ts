import type { ClientReadableStream, Metadata, ServiceError } from '@grpc/grpc-js';
import type { DType } from '@harmonics/core';
import { receiveLayout, unencapsulate } from './arrow.js';
import { type ClientSettings, type FlightClientOptions, makeClient, watchConnect } from './client.js';
import { callError } from './errors.js';
import {
  DESCRIPTOR_PATH,
  type FlightInfo,
  decodeFlightInfo,
  decodeSchemaResult,
  decodeUtf8,
  encodeDescriptor,
  encodeEmpty,
  ProtoReader,
} from './proto.js';
import { type MethodName, methodPath } from './service.js';

/** A flight as a server describes it (GetFlightInfo, ListFlights). */
export interface FlightDescription {
  /** The descriptor path (our server: `[stream]`). */
  path: string[];
  /** One per endpoint: the ticket to DoGet and where (empty: this server). */
  endpoints: { ticket: Uint8Array; locations: string[] }[];
  /** Rows (tensors) and bytes, or -1 when the server does not know. Our server: what a new reader would get now. */
  totalRecords: number;
  totalBytes: number;
  /** The schema, IPC-encapsulated; empty when the server has none yet. */
  schema: Uint8Array;
  /** dtype and (logical) shape of the tensor column, when the schema has one. */
  tensor: { dtype: DType; shape: number[] } | undefined;
}

const identity = (b: Buffer): Buffer => b;

function tensorOf(schema: Uint8Array): FlightDescription['tensor'] {
  if (schema.length === 0) return undefined;
  try {
    const l = receiveLayout(unencapsulate(schema));
    return { dtype: l.dtype, shape: Array.from(l.shape) };
  } catch {
    return undefined;
  }
}

function describe(info: FlightInfo): FlightDescription {
  return {
    path: info.descriptor.path ?? [],
    endpoints: info.endpoints.map((e) => ({ ticket: e.ticket, locations: e.locations })),
    totalRecords: info.totalRecords,
    totalBytes: info.totalBytes,
    schema: info.schema,
    tensor: tensorOf(info.schema),
  };
}

/**
 * The describing side of a Flight server: GetFlightInfo, GetSchema,
 * ListFlights, ListActions. Use it to find the ticket of a flight on a server
 * that hands out its own (then `new FlightProducer(host, port, { ticket })`).
 */
export class FlightClient {
  private readonly s: ClientSettings;

  constructor(host: string, port: number, options: FlightClientOptions = {}) {
    this.s = makeClient(host, port, options);
  }

  /** GetFlightInfo for the descriptor path `[stream]`. @throws HarmonicsError (`ERR_PROTOCOL` for NOT_FOUND). */
  async getFlightInfo(stream: string = this.s.stream): Promise<FlightDescription> {
    const res = await this.unary('GetFlightInfo', encodeDescriptor({ type: DESCRIPTOR_PATH, path: [stream] }));
    return describe(decodeFlightInfo(res));
  }

  /** GetSchema for `[stream]`: the IPC-encapsulated schema and its tensor column. */
  async getSchema(stream: string = this.s.stream): Promise<{ schema: Uint8Array; tensor: FlightDescription['tensor'] }> {
    const schema = decodeSchemaResult(await this.unary('GetSchema', encodeDescriptor({ type: DESCRIPTOR_PATH, path: [stream] })));
    return { schema, tensor: tensorOf(schema) };
  }

  /** ListFlights with empty criteria. */
  async listFlights(): Promise<FlightDescription[]> {
    return (await this.serverStream('ListFlights', encodeEmpty())).map((b) => describe(decodeFlightInfo(b)));
  }

  /** ListActions: the DoAction types the server serves. */
  async listActions(): Promise<{ type: string; description: string }[]> {
    return (await this.serverStream('ListActions', encodeEmpty())).map((b) => {
      const r = new ProtoReader(b, 'ActionType');
      const out = { type: '', description: '' };
      for (let f = r.next(); f !== undefined; f = r.next()) {
        if (f.field === 1 && f.wireType === 2) out.type = decodeUtf8(f.bytes, 'ActionType');
        else if (f.field === 2 && f.wireType === 2) out.description = decodeUtf8(f.bytes, 'ActionType');
      }
      return out;
    });
  }

  close(): void {
    this.s.client.close();
  }

  private unary(method: MethodName, request: Buffer): Promise<Buffer> {
    return this.guarded((md, done) => {
      const call = this.s.client.makeUnaryRequest<Buffer, Buffer>(methodPath(method), identity, identity, request, md, {}, (err, res) => {
        if (err !== null) done.reject(callError(err, method, this.s.target, false));
        else done.resolve(res!);
      });
      return () => call.cancel();
    });
  }

  private serverStream(method: MethodName, request: Buffer): Promise<Buffer[]> {
    return this.guarded((md, done) => {
      const out: Buffer[] = [];
      const call: ClientReadableStream<Buffer> = this.s.client.makeServerStreamRequest<Buffer, Buffer>(
        methodPath(method),
        identity,
        identity,
        request,
        md,
        {},
      );
      call.on('data', (b: Buffer) => out.push(b));
      call.on('error', (err: ServiceError) => done.reject(callError(err, method, this.s.target, false)));
      call.on('end', () => done.resolve(out));
      return () => call.cancel();
    });
  }

  /**
   * Runs one call (after the metadata, which may need a handshake) under the
   * connect watchdog: a channel that is not ready within `connectTimeoutMs`
   * (a server that accepts and never answers) cancels it with `ERR_CONNECT`.
   */
  private guarded<T>(start: (md: Metadata, done: { resolve: (v: T) => void; reject: (e: unknown) => void }) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let cancel: (() => void) | undefined;
      let settled = false;
      const done = {
        resolve: (v: T): void => {
          settled = true;
          stop();
          resolve(v);
        },
        reject: (e: unknown): void => {
          settled = true;
          stop();
          reject(e);
        },
      };
      const stop = watchConnect(this.s, (err) => {
        if (settled) return;
        done.reject(err);
        cancel?.();
      });
      this.s.metadata().then((md) => {
        if (!settled) cancel = start(md, done);
      }, done.reject);
    });
  }
}
