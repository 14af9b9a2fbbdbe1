// The decoders a peer can reach, each with a corpus of valid inputs to mutate.
// An input is a list of byte arrays: chunks of one stream, or messages of one call.
import { Duplex } from 'node:stream';
import { FrameDecoder, type Tensor, decodeTensor, encodeTensor, isHarmonicsError, tensor } from '@harmonics/core';
import { everyDtypeSamples, sampleTensor } from '@harmonics/conformance';
import WebSocket from 'ws';
import { decodeTensorData, encodeTensorData } from '../../transport-grpc/src/proto.js';
import { BatchDecoder, batchHeader, receiveLayout, sendLayout } from '../../transport-flight/src/arrow.js';
import { flightData, parseFlightData } from '../../transport-flight/src/flight-data.js';
import { WebSocketChannelProducer } from '../../transport-ws/src/channel.js';
import { nodeSocketAdapter } from '../../transport-ws/src/node-adapter.js';
import { fastReceived } from '../../transport-ws/src/fast-receive.js';
import { type Rng, concat, int, mutate } from './mutate.js';
import { type LaneRole, differential, laneCorpus, mutateLaneInput, rechunk } from './ws-lane.js';
import { prng } from './mutate.js';

/** Every decoder runs with this limit; an allocation beyond it (plus slack) is a finding. */
export const FUZZ_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface FuzzTarget {
  readonly name: string;
  /** What a peer controls here. */
  readonly describe: string;
  /** Valid inputs. */
  corpus(): Uint8Array[][];
  /** A mutated input from a valid one. */
  mutateInput(input: Uint8Array[], rng: Rng): Uint8Array[];
  /** Decode everything in `input`; a HarmonicsError is the expected way to fail. Returns how many tensors came out. */
  run(input: Uint8Array[]): number | Promise<number>;
  /** False: do not count ArrayBuffer memory after each input (see the harness). */
  measureMemory?: false;
  /** What the run did beyond the counts (printed after them). */
  summary?(): string;
}

function seedTensors(): Tensor[] {
  const out: Tensor[] = everyDtypeSamples();
  for (const shape of [[], [0], [1], [3, 0, 2], [2, 3], [4, 1, 1, 2], [17]]) out.push(sampleTensor('float32', shape, shape.length + 1));
  out.push(sampleTensor('uint8', [300], 9), sampleTensor('int64', [5, 5], 4), tensor('bool', [4], [0, 1, 1, 0]));
  return out;
}

const u32le = (n: number): Uint8Array => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);

/** Mutate one element of the list (most inputs), or the list itself (drop, duplicate, swap). */
function mutateList(input: Uint8Array[], rng: Rng): Uint8Array[] {
  const out = input.slice();
  const r = rng();
  if (r < 0.8 || out.length < 2) {
    const i = int(rng, out.length);
    out[i] = mutate(out[i], rng);
  } else if (r < 0.87) out.splice(int(rng, out.length), 1);
  else if (r < 0.94) {
    const i = int(rng, out.length);
    out.splice(i, 0, out[i]);
  } else {
    const i = int(rng, out.length - 1);
    [out[i], out[i + 1]] = [out[i + 1], out[i]];
  }
  return out;
}

/** Core records (files, and the body of every transport's message): decodeTensor. */
const coreRecord: FuzzTarget = {
  name: 'core.record',
  describe: 'one DESIGN §4 record (files, gRPC, WebSocket and Flight payloads): decodeTensor',
  corpus: () => seedTensors().map((t) => [encodeTensor(t)]),
  mutateInput: (input, rng) => [mutate(input[0], rng)],
  run(input) {
    decodeTensor(input[0], { maxMessageBytes: FUZZ_MAX_MESSAGE_BYTES });
    return 1;
  },
};

/** Length-prefixed records of a byte stream (tcp, unix, stdio), cut into chunks anywhere: FrameDecoder. */
const coreFraming: FuzzTarget = {
  name: 'core.framing',
  describe: 'a length-prefixed byte stream (tcp, unix, stdin) in chunks cut anywhere, with and without the end marker: FrameDecoder',
  corpus() {
    const ts = seedTensors();
    const out: Uint8Array[][] = [];
    for (let i = 0; i < ts.length; i += 3) {
      const records = ts.slice(i, i + 3).map((t) => {
        const r = encodeTensor(t);
        return concat(u32le(r.length), r);
      });
      const stream = concat(...records);
      // Cut in three places; the mutator moves and changes bytes across the cuts.
      const a = Math.floor(stream.length / 3);
      out.push([stream.subarray(0, a), stream.subarray(a, 2 * a), stream.subarray(2 * a)]);
      out.push([concat(stream, new Uint8Array(4))]); // with the end marker
    }
    return out;
  },
  mutateInput: mutateList,
  run(input) {
    const endMarker = input.length === 1 && input[0].length >= 4 && input[0][input[0].length - 1] === 0;
    const d = new FrameDecoder({ maxMessageBytes: FUZZ_MAX_MESSAGE_BYTES, endMarker });
    let n = 0;
    for (const chunk of input) {
      d.push(chunk);
      while (d.read() !== undefined) n++;
    }
    d.end();
    while (d.read() !== undefined) n++;
    return n;
  },
};

/**
 * The same streams read the way TCP and Unix client producers read them
 * (Node's `onread`): once a record's header is parsed, its bytes go straight
 * into the record's buffer (`directTarget` / `commitDirect`), the rest through
 * `push`.
 */
const coreFramingDirect: FuzzTarget = {
  name: 'core.framing.direct',
  describe: 'a length-prefixed byte stream read into record buffers as the TCP/Unix clients do (onread): FrameDecoder.directTarget',
  corpus: () => coreFraming.corpus(),
  mutateInput: mutateList,
  run(input) {
    const endMarker = input.length === 1 && input[0].length >= 4 && input[0][input[0].length - 1] === 0;
    const d = new FrameDecoder({ maxMessageBytes: FUZZ_MAX_MESSAGE_BYTES, endMarker });
    let n = 0;
    let target: Uint8Array | undefined;
    for (const chunk of input) {
      let rest = chunk;
      while (rest.length > 0) {
        if (target !== undefined) {
          const k = Math.min(target.length, rest.length);
          target.set(rest.subarray(0, k));
          d.commitDirect(k);
          rest = rest.subarray(k);
        } else {
          d.push(rest);
          rest = rest.subarray(rest.length);
        }
        while (d.read() !== undefined) n++;
        d.prepare();
        target = d.directTarget(1);
      }
    }
    d.end();
    while (d.read() !== undefined) n++;
    return n;
  },
};

/** gRPC TensorService messages: decodeTensorData. */
const grpcTensorData: FuzzTarget = {
  name: 'grpc.TensorData',
  describe: 'a harmonics.TensorService TensorData message (PushTensor/PopTensor): decodeTensorData',
  corpus: () => seedTensors().map((t) => [new Uint8Array(encodeTensorData(t))]),
  mutateInput: (input, rng) => [mutate(input[0], rng)],
  run(input) {
    decodeTensorData(input[0], FUZZ_MAX_MESSAGE_BYTES);
    return 1;
  },
};

/** A DoPut or DoGet: FlightData messages (schema, then record batches), parsed and decoded as the server and FlightProducer do. */
const flightMessages: FuzzTarget = {
  name: 'flight.FlightData',
  describe:
    'the FlightData messages of a DoPut or DoGet (protobuf, Arrow IPC schema and record batches): parseFlightData, receiveLayout, BatchDecoder',
  corpus() {
    const out: Uint8Array[][] = [];
    const groups = new Map<string, Tensor[]>();
    for (const t of seedTensors()) {
      const key = `${t.dtype}:${t.shape.join(',')}`;
      groups.set(key, [...(groups.get(key) ?? []), t, t]);
    }
    for (const ts of groups.values()) {
      const layout = sendLayout(ts[0].dtype, Array.from(ts[0].shape));
      const schema = flightData({ descriptor: undefined, header: layout.schemaMessage, body: [], bodyLength: 0 }) as Buffer;
      const rows = ts.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const bytes = rows.reduce((n, r) => n + r.length, 0);
      const batch = flightData({ header: batchHeader(layout, rows.length), body: rows, bodyLength: (bytes + 7) & ~7 }) as Buffer;
      const single = flightData({ header: batchHeader(layout, 1), body: [rows[0]], bodyLength: (rows[0].length + 7) & ~7 }) as Buffer;
      out.push([new Uint8Array(schema), new Uint8Array(batch), new Uint8Array(single)]);
    }
    return out;
  },
  mutateInput: mutateList,
  run(input) {
    let decoder: BatchDecoder | undefined;
    let n = 0;
    for (const msg of input) {
      const fd = parseFlightData(msg);
      if (fd.header.length === 0) continue;
      if (decoder === undefined) decoder = new BatchDecoder(receiveLayout(fd.header), FUZZ_MAX_MESSAGE_BYTES);
      else n += decoder.decode(fd.header, fd.body).length;
    }
    return n;
  },
};

/** A socket-like Duplex that discards what is written to it (pongs, close frames) and lets us emit what the peer sent. */
class FakeSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb();
  }
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
}

/** WebSocket frames as a client sends them (masked) to a server. */
function clientFrame(opcode: number, payload: Uint8Array, fin = true, maskKey = [0x12, 0x34, 0x56, 0x78]): Uint8Array {
  const len = payload.length;
  const head = len < 126 ? [(fin ? 0x80 : 0) | opcode, 0x80 | len] : [(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff];
  const masked = payload.map((b, i) => b ^ maskKey[i % 4]);
  return concat(new Uint8Array([...head, ...maskKey]), masked);
}

/** The server side of a WebSocket: the receive lane in front of `ws`'s parser, `ws`, and the channel producer that decodes records. */
const wsReceive: FuzzTarget = {
  name: 'ws.receive',
  describe: "bytes from a WebSocket client, as the server reads them: our receive lane, ws's Receiver, and the producer's record decoding",
  corpus() {
    const ts = seedTensors();
    const out: Uint8Array[][] = [];
    for (let i = 0; i < ts.length; i += 2) {
      const frames = ts.slice(i, i + 2).map((t) => clientFrame(0x2, encodeTensor(t)));
      const ping = clientFrame(0x9, new Uint8Array([1, 2, 3]));
      const rec = encodeTensor(ts[i]);
      const half = Math.floor(rec.length / 2);
      const fragmented = concat(clientFrame(0x2, rec.subarray(0, half), false), clientFrame(0x0, rec.subarray(half), true));
      const close = clientFrame(0x8, new Uint8Array([0x03, 0xe8]));
      const stream = concat(...frames, ping, fragmented, close);
      const a = Math.floor(stream.length / 2);
      out.push([stream.subarray(0, a), stream.subarray(a)]);
    }
    return out;
  },
  mutateInput: mutateList,
  async run(input) {
    const socket = new FakeSocket();
    // A server-side WebSocket (no address), as WebSocketServer makes them; @types/ws does not declare this form.
    const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, {});
    (ws as unknown as { setSocket(s: Duplex, head: Buffer, o: object): void }).setSocket(socket, Buffer.alloc(0), {
      allowSynchronousEvents: true,
      maxPayload: FUZZ_MAX_MESSAGE_BYTES,
      skipUTF8Validation: false,
    });
    const producer = new WebSocketChannelProducer(nodeSocketAdapter(ws, 'fuzz client', { keepAliveMs: 0, idleTimeoutMs: 0 }), {
      maxMessageBytes: FUZZ_MAX_MESSAGE_BYTES,
      closeTimeoutMs: 0,
    });
    try {
      for (const chunk of input) socket.emit('data', Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      socket.emit('end');
      socket.destroy();
      let n = 0;
      for (;;) {
        const t = await producer.next();
        if (t === undefined) return n;
        n++;
      }
    } finally {
      ws.terminate();
      await producer.close().catch(() => undefined);
    }
  },
};

/** transport-ws's receive lane against `ws` itself, in one role: the same bytes with and without the lane must be reported the same. */
function laneTarget(role: LaneRole): FuzzTarget {
  return {
    name: `ws.lane.${role.name}`,
    describe: `the same bytes to a ${role.name}-side WebSocket with our receive lane and to one without: same messages, pings, errors, close codes, replies`,
    corpus() {
      const rng = prng(0x1a5e);
      // each valid stream whole, and cut into chunks
      return laneCorpus(role).flatMap((s) => [[s], rechunk(s, rng), rechunk(s, rng)]);
    },
    mutateInput: (input, rng) => mutateLaneInput(input, rng, role),
    run: (input) => differential(input, role),
    // Two WebSockets and their copies of each input: what they hold is not one decoder's. The
    // lane's own memory is counted by ws.receive, which runs it in front of ws and the producer.
    measureMemory: false,
    summary: () =>
      `differential: an input is ok when the lane and ws report the same; the lane took ${fastReceived.frames.toLocaleString('en')} frames ` +
      `(${fastReceived.joined.toLocaleString('en')} joined from 2+ chunks)`,
  };
}

/** A server reads masked frames with ws's maxPayload below the lane's 64 KiB; a client reads unmasked frames with it above. */
export const LANE_ROLES: readonly LaneRole[] = [
  { name: 'server', maxPayload: 1000 },
  { name: 'client', maxPayload: 100_000 },
];

export const TARGETS: readonly FuzzTarget[] = [
  coreRecord,
  coreFraming,
  coreFramingDirect,
  wsReceive,
  ...LANE_ROLES.map(laneTarget),
  flightMessages,
  grpcTensorData,
];

/** The outcome of one input: decoded (`ok`), refused with a HarmonicsError (`typed`), or anything else. */
export type Outcome = 'ok' | 'typed' | { untyped: unknown };

export async function runOne(target: FuzzTarget, input: Uint8Array[]): Promise<Outcome> {
  try {
    await target.run(input);
    return 'ok';
  } catch (err) {
    return isHarmonicsError(err) ? 'typed' : { untyped: err };
  }
}
