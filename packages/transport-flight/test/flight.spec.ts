import { readFileSync, readdirSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { Client, type StatusObject, credentials, status } from '@grpc/grpc-js';
import { type Tensor, tensor } from '@harmonics/core';
import { FreezableProxy, codeOf, codeOfSync, errorOf, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import {
  DEFAULT_FLOW_CONTROL_WINDOW,
  DTYPE_KEY,
  END_ACTION,
  ERROR_CODE_KEY,
  FlightClient,
  FlightConsumer,
  FlightProducer,
  TensorFlightServer,
  receiveLayout,
  sendLayout,
} from '@harmonics/transport-flight';
import { Field, FixedSizeList, Message, Schema, Utf8 } from 'apache-arrow';
import { BatchDecoder, batchHeader, transpose } from '../src/arrow';
import { flightData } from '../src/flight-data';
import { DESCRIPTOR_PATH, decodeAction, decodeFlightInfo, encodeAction, encodeDescriptor, encodeFlightInfo } from '../src/proto';
import { methodPath } from '../src/service';
import { readAll } from './read-all';
import { TensorStream } from '../src/stream';
import { directWrites } from '../src/direct';

const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));
const identity = (b: Buffer): Buffer => b;

/** A plain grpc-js client sending hand-built FlightData on one DoPut; resolves with the call's status. */
function rawDoPut(port: number, messages: Buffer[]): Promise<StatusObject> {
  const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise((resolve) => {
    const call = raw.makeBidiStreamRequest(methodPath('DoPut'), identity, identity);
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.on('status', (st: StatusObject) => {
      raw.close();
      resolve(st);
    });
    for (const m of messages) call.write(m);
    call.end();
  });
}

const descriptor = (name: string): Buffer => encodeDescriptor({ type: DESCRIPTOR_PATH, path: [name] });

describe('protobuf codecs', () => {
  it('FlightInfo round-trips long fields (multi-byte lengths), several endpoints and -1 totals', () => {
    const schema = sendLayout('float32', [3, 4]).ipcSchema;
    expect(schema.length).toBeGreaterThan(200);
    const info = {
      schema,
      descriptor: { type: DESCRIPTOR_PATH, path: ['a', 'b'.repeat(300)] },
      endpoints: [
        { ticket: new Uint8Array(200).fill(7), locations: ['grpc://h1:1', 'grpc+tls://h2:2'] },
        { ticket: new Uint8Array([1]), locations: [] },
      ],
      totalRecords: -1,
      totalBytes: 2 ** 40,
      ordered: true,
    };
    const back = decodeFlightInfo(encodeFlightInfo(info));
    const plain = {
      ...back,
      schema: Uint8Array.from(back.schema),
      endpoints: back.endpoints.map((e) => ({ ...e, ticket: Uint8Array.from(e.ticket) })),
    };
    expect(plain).toEqual(info);
    const action = decodeAction(encodeAction({ type: END_ACTION, body: new Uint8Array(500).fill(1) }));
    expect({ ...action, body: Uint8Array.from(action.body) }).toEqual({ type: END_ACTION, body: new Uint8Array(500).fill(1) });
  });
});

describe('hostile protobuf', () => {
  // Field 2 (bytes) with a length varint that decodes to -11: it used to move the parser's cursor back, forever.
  const negativeLength = Buffer.from('12f5ffffffffffffffff01', 'hex');

  it('a length that decodes negative, or a tag of field 0, is ERR_PROTOCOL at once', () => {
    expect(codeOfSync(() => decodeAction(negativeLength))).toBe('ERR_PROTOCOL');
    expect(codeOfSync(() => decodeFlightInfo(negativeLength))).toBe('ERR_PROTOCOL');
    expect(codeOfSync(() => decodeAction(Buffer.from([0x02, 0x00])))).toBe('ERR_PROTOCOL');
  });

  it('the 11 bytes end a DoPut with INVALID_ARGUMENT and the server keeps serving', async () => {
    const server = await TensorFlightServer.listen({ port: 0 });
    try {
      const st = await rawDoPut(server.port!, [negativeLength]);
      expect(st.code).toBe(status.INVALID_ARGUMENT);
      const client = new FlightClient('127.0.0.1', server.port!);
      expect(await client.listFlights()).toEqual([]);
      client.close();
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('hostile DoPuts (testdata/flight-dos: found by fuzzing, each crashed or stalled the server)', () => {
  const dir = join(__dirname, '../../../testdata/flight-dos');
  const inputs = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: f, msgs: (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { msgs: string[] }).msgs.map((m) => Buffer.from(m, 'hex')) }));

  it('all 40 end their DoPut with INVALID_ARGUMENT (ERR_PROTOCOL) at once; the heap stays flat and others are served', async () => {
    expect(inputs.length).toBe(40);
    const server = await TensorFlightServer.listen({ port: 0 });
    try {
      global.gc?.();
      const before = process.memoryUsage().heapUsed;
      for (const { name, msgs } of inputs) {
        const started = Date.now();
        const st = await rawDoPut(server.port!, msgs);
        expect([name, st.code, st.metadata.get(ERROR_CODE_KEY)[0]]).toEqual([name, status.INVALID_ARGUMENT, 'ERR_PROTOCOL']);
        expect([name, Date.now() - started < 5000]).toEqual([name, true]);
      }
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
      const writer = new FlightConsumer('127.0.0.1', server.port!, { stream: 'legit' });
      await writer.push(tensor('float32', [2], [1, 2]));
      await writer.close();
      const client = new FlightClient('127.0.0.1', server.port!);
      expect((await client.listFlights()).map((f) => f.path)).toContainEqual(['legit']);
      client.close();
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  }, 120_000);

  it('a batch claiming 10,000,000 tensors of shape [0] is refused instead of building them', async () => {
    const server = await TensorFlightServer.listen({ port: 0 });
    try {
      const layout = sendLayout('float32', [0]);
      const st = await rawDoPut(server.port!, [
        flightData({ descriptor: descriptor('empty'), header: layout.schemaMessage, body: [], bodyLength: 0 }) as Buffer,
        flightData({ header: batchHeader(layout, 10_000_000), body: [], bodyLength: 0 }) as Buffer,
      ]);
      expect(st.code).toBe(status.INVALID_ARGUMENT);
      expect(st.details).toMatch(/10000000 empty tensors; at most 65536/);
      expect(server.listStreams().find((s) => s.name === 'empty')?.size ?? 0).toBe(0);
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('a server that accepts the connection and never answers', () => {
  it('the producer (default 10 s), the consumer and FlightClient calls reject ERR_CONNECT after connectTimeoutMs, not hang', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hole = createNetServer((s) => sockets.push(s)); // a wrong service on the port, a hung process
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const started = Date.now();
    const producer = new FlightProducer('127.0.0.1', port);
    const consumer = new FlightConsumer('127.0.0.1', port, { connectTimeoutMs: 300 });
    const client = new FlightClient('127.0.0.1', port, { connectTimeoutMs: 300 });
    try {
      const fe = await errorOf(client.getFlightInfo('s'));
      const le = await errorOf(client.listFlights());
      expect([fe?.code, le?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECT', 'ERR_CONNECT', true]);
      const ce = await errorOf(consumer.push(tensor('float32', [2], [1, 2])).then(() => consumer.close()));
      expect([ce?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECT', true]);
      const pe = await errorOf(producer.next());
      expect([pe?.code, Date.now() - started < 20_000]).toEqual(['ERR_CONNECT', true]);
      expect(pe?.message).toMatch(/connectTimeoutMs/);
    } finally {
      client.close();
      await producer.close();
      await consumer.close().catch(() => undefined);
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });
  it('a consumer without direct writes (its push() resolves before the channel is up) still rejects close() ERR_CONNECT, not hang', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hole = createNetServer((s) => sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const consumer = new FlightConsumer('127.0.0.1', port, { connectTimeoutMs: 300, directWrites: false });
    try {
      const started = Date.now();
      await consumer.push(tensor('float32', [2], [1, 2])); // through grpc-js: buffered until the channel is ready
      const ce = await errorOf(consumer.close());
      expect([ce?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECT', true]);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });
});

describe('tensor ↔ Arrow', () => {
  it('marks bfloat16 and bool, which Arrow has no tensor type for, and reads them back as those dtypes', () => {
    for (const [dtype, storage] of [
      ['bfloat16', 'Uint16'],
      ['bool', 'Uint8'],
    ] as const) {
      const l = sendLayout(dtype, [2]);
      const schema = Message.decode(l.schemaMessage).header() as Schema;
      expect(schema.fields[0].metadata.get(DTYPE_KEY)).toBe(dtype);
      expect(String((schema.fields[0].type as FixedSizeList).children[0].type)).toBe(storage);
      expect(receiveLayout(l.schemaMessage).dtype).toBe(dtype);
    }
    expect(receiveLayout(sendLayout('uint16', [2]).schemaMessage).dtype).toBe('uint16');
  });

  it('bool elements other than 0/1 are ERR_BAD_DTYPE, sending and receiving', async () => {
    const bad = { dtype: 'bool', shape: [3], data: new Uint8Array([0, 2, 1]) } as Tensor;
    const mem = new TensorFlightServer();
    expect(await codeOf(new FlightConsumer(mem).push(bad))).toBe('ERR_BAD_DTYPE');
    const layout = sendLayout('bool', [3]);
    const decoder = new BatchDecoder(receiveLayout(layout.schemaMessage), 1 << 30);
    const body = new Uint8Array(8);
    body.set([1, 0, 1]);
    expectSameTensor(decoder.decode(batchHeader(layout, 1), body)[0], tensor('bool', [3], [1, 0, 1]));
    body[1] = 7;
    expect(() => decoder.decode(batchHeader(layout, 1), body)).toThrow(expect.objectContaining({ code: 'ERR_BAD_DTYPE' }));
  });

  it('transposes by the canonical permutation: logical dim i is physical dim permutation[i]', () => {
    // physical [2, 3, 4], permutation [2, 0, 1] → logical [4, 2, 3]; logical[a][b][c] = physical[b][c][a]
    const physical = new Int32Array(24).map((_, i) => i);
    const out = transpose(physical, [2, 3, 4], [2, 0, 1]) as Int32Array;
    const want: number[] = [];
    for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) want.push(b * 12 + c * 4 + a);
    expect(Array.from(out)).toEqual(want);
  });

  it('a schema without a tensor column, or with a value type no tensor has, is refused with a message that says what it saw', () => {
    const plain = Message.encode(Message.from(new Schema([new Field('x', new Utf8(), true)])));
    expect(() => receiveLayout(plain)).toThrow(/no arrow\.fixed_shape_tensor column \(fields: x: Utf8\)/);
    const md = new Map([
      ['ARROW:extension:name', 'arrow.fixed_shape_tensor'],
      ['ARROW:extension:metadata', '{"shape":[2]}'],
    ]);
    const strings = Message.encode(Message.from(new Schema([new Field('t', new FixedSizeList(2, new Field('item', new Utf8())), false, md)])));
    expect(() => receiveLayout(strings)).toThrow(expect.objectContaining({ code: 'ERR_BAD_DTYPE' }));
  });
});

describe('TensorFlightServer', () => {
  let server: TensorFlightServer;
  afterEach(async () => server?.close({ timeoutMs: 0 }));

  it('advertises a 16 MiB HTTP/2 window instead of 64 KiB', async () => {
    server = await TensorFlightServer.listen();
    const session = h2connect(`http://127.0.0.1:${server.port}`);
    try {
      const settings = await new Promise<{ initialWindowSize?: number }>((r) => session.once('remoteSettings', r));
      expect(settings.initialWindowSize).toBe(DEFAULT_FLOW_CONTROL_WINDOW);
    } finally {
      session.destroy();
    }
  });

  it('received tensors are views of the FlightData message (data_header padding aligns the body): no copy of ours', async () => {
    server = await TensorFlightServer.listen();
    const consumer = new FlightConsumer('127.0.0.1', server.port!);
    const producer = new FlightProducer('127.0.0.1', server.port!);
    const sent = [sampleTensor('float64', [1000], 1), sampleTensor('int64', [3, 5], 2), sampleTensor('float32', [300, 300], 3)];
    for (const t of sent) await consumer.push(t);
    await consumer.close();
    const got = await readAll(producer);
    got.forEach((t, i) => {
      expectSameTensor(t, sent[i]);
      expect(t.data.byteOffset % 8).toBe(0);
      // The body field's tag (1000, length-delimited: 0xC2 0x3E) and its length varint sit right before the data.
      const before = new Uint8Array(t.data.buffer, t.data.byteOffset - 8, 8);
      const body = (t.data.byteLength + 7) & ~7;
      const varint: number[] = [];
      for (let n = body; ; n = Math.floor(n / 128)) {
        varint.push(n >= 128 ? (n & 0x7f) | 0x80 : n);
        if (n < 128) break;
      }
      expect(Array.from(before.subarray(8 - varint.length - 2))).toEqual([0xc2, 0x3e, ...varint]);
    });
  });

  for (const how of ['fastPaths: false', 'HARMONICS_FAST_PATHS=0'] as const) {
    it(`fast paths off (${how}): no direct write either way, HTTP/2's default window, large tensors bit-exact through grpc-js's public API`, async () => {
      const off = how === 'fastPaths: false' ? { fastPaths: false } : {};
      const saved = process.env.HARMONICS_FAST_PATHS;
      if (how === 'HARMONICS_FAST_PATHS=0') process.env.HARMONICS_FAST_PATHS = '0';
      try {
        server = await TensorFlightServer.listen(off);
        const session = h2connect(`http://127.0.0.1:${server.port}`);
        const settings = await new Promise<{ initialWindowSize?: number }>((r) => session.once('remoteSettings', r));
        session.destroy();
        expect(settings.initialWindowSize).toBe(65535);
        const before = { ...directWrites };
        const sent = [sampleTensor('float32', [256, 1024], 7), sampleTensor('uint16', [70_000], 8)];
        const consumer = new FlightConsumer('127.0.0.1', server.port!, off);
        for (const t of sent) await consumer.push(t);
        await consumer.close();
        const got = await readAll(new FlightProducer('127.0.0.1', server.port!, off));
        sent.forEach((t, i) => expectSameTensor(got[i], t));
        expect([directWrites.client - before.client, directWrites.server - before.server]).toEqual([0, 0]);
      } finally {
        if (saved === undefined) delete process.env.HARMONICS_FAST_PATHS;
        else process.env.HARMONICS_FAST_PATHS = saved;
      }
    });
  }

  it('DoGet writes straight to HTTP/2 under grpc-js (the internals it relies on are there); directWrites: false goes through grpc-js; both bit-exact', async () => {
    const sent = [sampleTensor('float32', [256, 1024], 5), tensor('int8', [3], [1, -2, 3]), sampleTensor('uint16', [70_000], 6)];
    for (const direct of [true, false]) {
      const s = await TensorFlightServer.listen({ directWrites: direct });
      try {
        for (const t of sent) await s.putTensor(t);
        s.endStream();
        const before = directWrites.server;
        const got = await readAll(new FlightProducer('127.0.0.1', s.port!));
        expect(got.length).toBe(sent.length);
        sent.forEach((t, i) => expectSameTensor(got[i], t));
        // schema + one batch per dtype/shape (three DoGets: the schema changes twice)
        expect(directWrites.server - before).toBe(direct ? 6 : 0);
      } finally {
        await s.close({ timeoutMs: 0 });
      }
    }
  });

  it('DoPut writes straight to HTTP/2 under grpc-js (the internals it relies on are there); directWrites: false goes through grpc-js; both bit-exact', async () => {
    const sent = [sampleTensor('float32', [256, 1024], 7), tensor('int8', [3], [1, -2, 3]), sampleTensor('uint16', [70_000], 8)];
    for (const direct of [true, false]) {
      server = await TensorFlightServer.listen();
      const before = directWrites.client;
      const consumer = new FlightConsumer('127.0.0.1', server.port!, { directWrites: direct });
      for (const t of sent) {
        const copy = { ...t, data: t.data.slice() } as Tensor;
        await consumer.push(copy);
        (copy.data as Uint8Array).fill(0); // the caller reuses it once push() resolved
      }
      await consumer.close();
      // three DoPuts (the schema changes twice), each a schema message and a batch
      expect(directWrites.client - before).toBe(direct ? 6 : 0);
      const got = await readAll(new FlightProducer('127.0.0.1', server.port!));
      expect(got.length).toBe(sent.length);
      sent.forEach((t, i) => expectSameTensor(got[i], t));
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a DoPut whose schema has no tensor column, or an unknown value type, ends INVALID_ARGUMENT with our error code', async () => {
    server = await TensorFlightServer.listen();
    const plain = Message.encode(Message.from(new Schema([new Field('x', new Utf8(), true)])));
    const st = await rawDoPut(server.port!, [flightData({ descriptor: descriptor('s'), header: plain, body: [], bodyLength: 0 }) as Buffer]);
    expect(st.code).toBe(status.INVALID_ARGUMENT);
    expect(st.metadata.get(ERROR_CODE_KEY)).toEqual(['ERR_PROTOCOL']);
    expect(st.details).toMatch(/no arrow\.fixed_shape_tensor column/);
    const md = new Map([
      ['ARROW:extension:name', 'arrow.fixed_shape_tensor'],
      ['ARROW:extension:metadata', '{"shape":[2]}'],
    ]);
    const strings = Message.encode(Message.from(new Schema([new Field('t', new FixedSizeList(2, new Field('item', new Utf8())), false, md)])));
    const st2 = await rawDoPut(server.port!, [flightData({ descriptor: descriptor('s2'), header: strings, body: [], bodyLength: 0 }) as Buffer]);
    expect(st2.metadata.get(ERROR_CODE_KEY)).toEqual(['ERR_BAD_DTYPE']);
  });

  it('a truncated record batch: the tensors before it are delivered, then readers get ERR_CONNECTION_LOST (never a silent end)', async () => {
    server = await TensorFlightServer.listen();
    const layout = sendLayout('float32', [4]);
    const good = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const goodBytes = new Uint8Array(good.buffer);
    const messages = [
      flightData({ descriptor: descriptor('cut'), header: layout.schemaMessage, body: [], bodyLength: 0 }) as Buffer,
      flightData({ header: batchHeader(layout, 2), body: [goodBytes], bodyLength: 32 }) as Buffer,
      // says 2 rows (32 bytes) but carries 8 bytes
      flightData({ header: batchHeader(layout, 2), body: [goodBytes.subarray(0, 8)], bodyLength: 8 }) as Buffer,
    ];
    const st = await rawDoPut(server.port!, messages);
    expect(st.code).toBe(status.INVALID_ARGUMENT);
    expect(st.metadata.get(ERROR_CODE_KEY)).toEqual(['ERR_PROTOCOL']);
    const producer = new FlightProducer('127.0.0.1', server.port!, { stream: 'cut' });
    try {
      expectSameTensor(await producer.next(), tensor('float32', [4], [1, 2, 3, 4]));
      expectSameTensor(await producer.next(), tensor('float32', [4], [5, 6, 7, 8]));
      expect(await codeOf(producer.next())).toBe('ERR_CONNECTION_LOST');
    } finally {
      await producer.close();
    }
  });

  it("a tensor over the server's maxMessageBytes is ERR_TOO_LARGE for the writer (refused at its schema); what came before stays", async () => {
    server = await TensorFlightServer.listen({ maxMessageBytes: 128 * 1024 });
    const consumer = new FlightConsumer('127.0.0.1', server.port!);
    const small = sampleTensor('float32', [100], 1);
    await consumer.push(small);
    await consumer.push(tensor('uint8', [1024 * 1024])).catch(() => undefined);
    expect(await codeOf(consumer.close())).toBe('ERR_TOO_LARGE');
    expectSameTensor(await server.getTensor(), small);
  });

  it('batchRows never builds a batch over maxMessageBytes: 50 tensors of 4 KiB with a 64 KiB limit all arrive, in order', async () => {
    server = await TensorFlightServer.listen({ maxMessageBytes: 64 * 1024 });
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { batchRows: 100, maxMessageBytes: 64 * 1024 });
    const sent = Array.from({ length: 50 }, (_, i) => sampleTensor('float32', [1024], i + 1));
    for (const t of sent) await consumer.push(t);
    await consumer.close();
    const got = await readAll(new FlightProducer('127.0.0.1', server.port!));
    expect(got.length).toBe(50);
    sent.forEach((t, i) => expectSameTensor(got[i], t));
  });

  it('no server: the producer and the consumer report ERR_CONNECT', async () => {
    const probe = await TensorFlightServer.listen();
    const port = probe.port!;
    await probe.close({ timeoutMs: 0 });
    const producer = new FlightProducer('127.0.0.1', port);
    const consumer = new FlightConsumer('127.0.0.1', port);
    try {
      expect(await codeOf(producer.next())).toBe('ERR_CONNECT');
      await consumer.push(tensor('int32', [1], [1])).catch(() => undefined);
      expect(await codeOf(consumer.close())).toBe('ERR_CONNECT');
    } finally {
      await producer.close();
    }
  });

  it('a queue gives each tensor to one reader; a retained stream replays everything to every reader', async () => {
    server = await TensorFlightServer.listen();
    server.createStream('replay', { retain: true });
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { stream: 'queue' });
    const replayer = new FlightConsumer('127.0.0.1', server.port!, { stream: 'replay' });
    const sent = Array.from({ length: 40 }, (_, i) => tensor('int32', [1], [i]));
    for (const t of sent) {
      await consumer.push(t);
      await replayer.push(t);
    }
    await consumer.close();
    await replayer.close();
    const [a, b] = await Promise.all([
      readAll(new FlightProducer('127.0.0.1', server.port!, { stream: 'queue' })),
      readAll(new FlightProducer('127.0.0.1', server.port!, { stream: 'queue' })),
    ]);
    const seen = [...a, ...b].map((t) => (t.data as Int32Array)[0]).sort((x, y) => x - y);
    expect(seen).toEqual(sent.map((_, i) => i));
    for (let k = 0; k < 2; k++) {
      const all = await readAll(new FlightProducer('127.0.0.1', server.port!, { stream: 'replay' }));
      expect(all.map((t) => (t.data as Int32Array)[0])).toEqual(sent.map((_, i) => i));
    }
  });

  it('a DoGet that arrives before any writer waits for the stream; resolveTicket maps tickets clients build', async () => {
    server = await TensorFlightServer.listen({ resolveTicket: (t) => (Buffer.from(t).toString() === 'job-42' ? 'results' : undefined) });
    const early = new FlightProducer('127.0.0.1', server.port!, { ticket: 'job-42' });
    const reading = readAll(early);
    await new Promise((r) => setTimeout(r, 100));
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { stream: 'results' });
    const t = sampleTensor('float64', [3, 3], 4);
    await consumer.push(t);
    await consumer.close();
    const got = await reading;
    expect(got.length).toBe(1);
    expectSameTensor(got[0], t);
    const unknown = new FlightProducer('127.0.0.1', server.port!, { ticket: 'nope' });
    expect(await codeOf(unknown.next())).toBe('ERR_PROTOCOL');
    await unknown.close();
  });

  it('FlightClient describes streams: GetFlightInfo, GetSchema, ListFlights, ListActions; NOT_FOUND is ERR_PROTOCOL', async () => {
    server = await TensorFlightServer.listen();
    await server.putTensor(tensor('int16', [2, 3]), { stream: 'a' });
    await server.putTensor(tensor('int16', [2, 3]), { stream: 'a' });
    await server.putTensor(tensor('bfloat16', [5]), { stream: 'b' });
    const client = new FlightClient('127.0.0.1', server.port!);
    try {
      const info = await client.getFlightInfo('a');
      expect(info).toMatchObject({ path: ['a'], totalRecords: 2, totalBytes: 24, tensor: { dtype: 'int16', shape: [2, 3] } });
      expect(Buffer.from(info.endpoints[0].ticket).toString()).toBe('a');
      expect((await client.getSchema('b')).tensor).toEqual({ dtype: 'bfloat16', shape: [5] });
      expect((await client.listFlights()).map((f) => f.path[0]).sort()).toEqual(['a', 'b']);
      expect((await client.listActions()).map((a) => a.type)).toEqual([END_ACTION]);
      expect(await codeOf(client.getFlightInfo('missing'))).toBe('ERR_PROTOCOL');
    } finally {
      client.close();
    }
  });

  it('bearer tokens and the Basic handshake: refused without, accepted with', async () => {
    server = await TensorFlightServer.listen({
      handshake: ({ username, password }) => (username === 'u' && password === 'p' ? 'secret-token' : undefined),
      verifyToken: (token) => token === 'secret-token',
    });
    const anonymous = new FlightProducer('127.0.0.1', server.port!);
    expect(await codeOf(anonymous.next())).toBe('ERR_HANDSHAKE');
    await anonymous.close();
    const wrong = new FlightConsumer('127.0.0.1', server.port!, { username: 'u', password: 'x' });
    expect(await codeOf(wrong.push(tensor('int32', [1], [1])))).toBe('ERR_HANDSHAKE');
    await wrong.close().catch(() => undefined);
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { username: 'u', password: 'p' });
    const producer = new FlightProducer('127.0.0.1', server.port!, { token: 'secret-token' });
    const t = tensor('int32', [2], [7, 8]);
    await consumer.push(t);
    await consumer.close();
    const got = await readAll(producer);
    expect(got.length).toBe(1);
    expectSameTensor(got[0], t);
  });

  it("tls takes Node's options on both sides: mutual TLS, and a version floor an older client cannot meet", async () => {
    server = await TensorFlightServer.listen({ tls: { key: TLS_KEY, cert: TLS_CERT, ca: TLS_CERT, requestCert: true, minVersion: 'TLSv1.3' } });
    const trusted = { ca: TLS_CERT, servername: 'localhost' };
    const good = new FlightConsumer('127.0.0.1', server.port!, { tls: { ...trusted, cert: TLS_CERT, key: TLS_KEY } });
    const noCert = new FlightConsumer('127.0.0.1', server.port!, { tls: trusted, stream: 'b' });
    const tooOld = new FlightConsumer('127.0.0.1', server.port!, {
      tls: { ...trusted, cert: TLS_CERT, key: TLS_KEY, maxVersion: 'TLSv1.2' },
      stream: 'c',
    });
    const t = sampleTensor('int16', [5], 2);
    await good.push(t);
    await good.close();
    expectSameTensor(await server.getTensor(), t);
    for (const refused of [noCert, tooOld]) {
      expect(await codeOf(refused.push(t).then(() => refused.close()))).toMatch(/^ERR_(CONNECT|HANDSHAKE|CONNECTION_LOST)$/);
      await refused.close().catch(() => undefined);
    }
  });

  it('TLS round-trips; a client that does not trust the certificate gets an error, not a hang', async () => {
    server = await TensorFlightServer.listen({ tls: { key: TLS_KEY, cert: TLS_CERT } });
    const consumer = new FlightConsumer('localhost', server.port!, { tls: { ca: TLS_CERT } });
    const producer = new FlightProducer('127.0.0.1', server.port!, { tls: { ca: TLS_CERT, servername: 'localhost' } });
    const t = sampleTensor('uint8', [300 * 1024], 3);
    await consumer.push(t);
    await consumer.close();
    const got = await readAll(producer);
    expectSameTensor(got[0], t);
    const untrusting = new FlightProducer('127.0.0.1', server.port!, { tls: {}, stream: 'other' });
    expect(await codeOf(untrusting.next())).toMatch(/^ERR_(CONNECT|HANDSHAKE)$/);
    await untrusting.close();
  });

  it('closing a producer while its next() waits rejects that next() with ERR_CLOSED, in memory and over the network', async () => {
    server = await TensorFlightServer.listen();
    for (const producer of [new FlightProducer(server, { stream: 'idle' }), new FlightProducer('127.0.0.1', server.port!, { stream: 'idle' })]) {
      const waiting = producer.next();
      await new Promise((r) => setTimeout(r, 50));
      await producer.close();
      expect(await codeOf(waiting)).toBe('ERR_CLOSED');
    }
  });

  it('close() ends open streams: a waiting reader gets what is queued, then the end', async () => {
    server = await TensorFlightServer.listen();
    const consumer = new FlightConsumer('127.0.0.1', server.port!);
    const t = tensor('float32', [2], [1, 2]);
    await consumer.push(t);
    const producer = new FlightProducer('127.0.0.1', server.port!);
    expectSameTensor(await producer.next(), t);
    const waiting = producer.next();
    await new Promise((r) => setTimeout(r, 50));
    await server.close({ timeoutMs: 1000 });
    expect(await waiting).toBeUndefined();
    await producer.close();
    await consumer.close().catch(() => undefined);
  });
});

describe('TensorStream', () => {
  it('drops its reference to a tensor once a reader took it (the memory can be freed while the stream lives on)', () => {
    const s = new TensorStream('s', false, 1024, 1 << 30);
    const sent = [0, 1, 2].map((i) => tensor('int32', [1], [i]));
    for (const t of sent) s.put(t);
    const r = s.newReader();
    s.advance(r, 2);
    const held = (s as unknown as { items: unknown[] }).items.filter((item) => item !== undefined).map((item) => (item as { tensor: Tensor }).tensor);
    expect(held).toEqual([sent[2]]);
    expect(s.last).toEqual({ dtype: 'int32', shape: [1], key: 'int32[1]' });
    expect(s.last).not.toBe(sent[2]);
  });
});

describe('keepalive, unknown streams and the option vocabulary', () => {
  it('a server that goes silent without closing: next() rejects ERR_CONNECTION_LOST within keepAliveMs + keepAliveTimeoutMs', async () => {
    const server = await TensorFlightServer.listen();
    const proxy = await FreezableProxy.start(server.port!);
    const producer = new FlightProducer('127.0.0.1', proxy.port, { keepAliveMs: 500, keepAliveTimeoutMs: 500 });
    try {
      server.createStream('tensors');
      await server.putTensor(tensor('int32', [1], [7]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [7]));
      const waiting = producer.next();
      proxy.freeze();
      const started = Date.now();
      const err = await errorOf(waiting);
      expect([err?.code, Date.now() - started < 5000]).toEqual(['ERR_CONNECTION_LOST', true]);
    } finally {
      await producer.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it("the server drops a client that went silent: its DoGet takes nothing more, the stream's tensors stay for others", async () => {
    const server = await TensorFlightServer.listen({ keepAliveMs: 300, keepAliveTimeoutMs: 300 });
    const proxy = await FreezableProxy.start(server.port!);
    const producer = new FlightProducer('127.0.0.1', proxy.port, { keepAliveMs: 0 });
    try {
      server.createStream('tensors');
      await server.putTensor(tensor('int32', [1], [1]));
      expectSameTensor(await producer.next(), tensor('int32', [1], [1]));
      producer.next().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      proxy.freeze();
      await new Promise((r) => setTimeout(r, 1500));
      await server.putTensor(tensor('int32', [1], [2]));
      expectSameTensor(await server.getTensor(), tensor('int32', [1], [2]));
    } finally {
      await producer.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a DoGet for a stream no writer created ends NOT_FOUND after unknownStreamTimeoutMs; one created on purpose keeps waiting', async () => {
    const server = await TensorFlightServer.listen({ unknownStreamTimeoutMs: 300 });
    server.createStream('later');
    const typo = new FlightProducer('127.0.0.1', server.port!, { stream: 'tensrs' });
    const early = new FlightProducer('127.0.0.1', server.port!, { stream: 'later' });
    try {
      const waiting = early.next();
      const err = await errorOf(typo.next());
      expect(err?.code).toBe('ERR_PROTOCOL');
      expect(err?.message).toMatch(/no stream named "tensrs".*unknownStreamTimeoutMs/);
      await new Promise((r) => setTimeout(r, 600));
      await server.putTensor(tensor('int32', [1], [5]), { stream: 'later' });
      expectSameTensor(await waiting, tensor('int32', [1], [5]));
    } finally {
      await typo.close();
      await early.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('a reader that starts before its writer gets the tensors (the writer comes within unknownStreamTimeoutMs)', async () => {
    const server = await TensorFlightServer.listen({ unknownStreamTimeoutMs: 2000 });
    const producer = new FlightProducer('127.0.0.1', server.port!, { stream: 's' });
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { stream: 's' });
    try {
      const first = producer.next();
      await new Promise((r) => setTimeout(r, 300));
      await consumer.push(tensor('int32', [1], [9]));
      await consumer.close();
      expectSameTensor(await first, tensor('int32', [1], [9]));
      expect(await producer.next()).toBeUndefined();
    } finally {
      await producer.close();
      await server.close({ timeoutMs: 0 });
    }
  });

  it('maxMessageSize still works as a deprecated alias; the limit counts the whole record', async () => {
    const server = await TensorFlightServer.listen({ maxMessageSize: 4096 });
    try {
      expect(server.maxMessageBytes).toBe(4096);
      // 4096 data bytes + a 13-byte record header: over the limit.
      expect(await codeOf(server.putTensor(tensor('uint8', [4096])))).toBe('ERR_TOO_LARGE');
      await server.putTensor(tensor('uint8', [4096 - 13]));
      const consumer = new FlightConsumer('127.0.0.1', server.port!, { maxMessageSize: 1024 });
      expect(await codeOf(consumer.push(tensor('uint8', [1024])))).toBe('ERR_TOO_LARGE');
      await consumer.close();
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  it('bad options are ERR_INVALID_ARGUMENT, thrown where they are passed', async () => {
    expect(codeOfSync(() => new FlightProducer('127.0.0.1', 70000))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new FlightConsumer('127.0.0.1', 9, { maxMessageBytes: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new FlightProducer('127.0.0.1', 9, { keepAliveMs: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new FlightProducer('127.0.0.1', 9, { stream: '' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(TensorFlightServer.listen({ unknownStreamTimeoutMs: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(TensorFlightServer.listen({ maxConnections: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(TensorFlightServer.listen({ handshakeTimeoutMs: -5 }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('await using closes a server', async () => {
    let port: number;
    {
      await using server = await TensorFlightServer.listen();
      port = server.port!;
    }
    expect(await codeOf(new FlightProducer('127.0.0.1', port, { connectTimeoutMs: 2000 }).next())).toBe('ERR_CONNECT');
  });
});

describe('TensorFlightServer resource limits', () => {
  function rawDoAction(port: number, type: string, body: string): Promise<StatusObject> {
    const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    return new Promise((resolve) => {
      const call = raw.makeServerStreamRequest(methodPath('DoAction'), identity, identity, encodeAction({ type, body: Buffer.from(body) }) as Buffer);
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.on('status', (st: StatusObject) => {
        raw.close();
        resolve(st);
      });
    });
  }

  it('DoActions for streams that do not exist create none (1000 of them)', async () => {
    const server = await TensorFlightServer.listen();
    try {
      for (let i = 0; i < 1000; i++) await rawDoAction(server.port!, END_ACTION, JSON.stringify({ stream: `s${i}`, writer: 'w' }));
      expect(server.listStreams().length).toBe(0);
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  it('maxStreams: drained streams are forgotten to make room; past it a new stream is refused (ERR_CONNECT), others are served', async () => {
    const server = await TensorFlightServer.listen({ maxStreams: 2 });
    try {
      for (const name of ['a', 'b']) {
        const c = new FlightConsumer('127.0.0.1', server.port!, { stream: name });
        await c.push(tensor('int32', [1], [1]));
        await c.close();
      }
      // 'a' drained and ended: forgotten when room is needed.
      expect((await readAll(new FlightProducer('127.0.0.1', server.port!, { stream: 'a' }))).length).toBe(1);
      const c = new FlightConsumer('127.0.0.1', server.port!, { stream: 'c' });
      await c.push(tensor('int32', [1], [3]));
      const d = new FlightConsumer('127.0.0.1', server.port!, { stream: 'd' });
      await d.push(tensor('int32', [1], [4]));
      await d.push(tensor('int32', [1], [4])).catch(() => undefined);
      const err = await errorOf(d.close());
      expect(err?.code).toBe('ERR_CONNECT');
      expect(err?.message).toMatch(/maxStreams/);
      await c.close();
      expect(
        server
          .listStreams()
          .map((s) => s.name)
          .sort(),
      ).toEqual(['b', 'c']);
      expect((await readAll(new FlightProducer('127.0.0.1', server.port!, { stream: 'b' }))).length).toBe(1);
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });

  it('maxTotalQueuedBytes: writers of every queue stream wait once the streams together hold it; everything arrives once readers drain', async () => {
    const server = await TensorFlightServer.listen({ maxTotalQueuedBytes: 4 * 1024 * 1024, maxQueuedBytes: 64 * 1024 * 1024 });
    const writers = ['x', 'y', 'z'].map((stream) => new FlightConsumer('127.0.0.1', server.port!, { stream }));
    try {
      const pushes = writers.map(async (w, k) => {
        for (let i = 0; i < 8; i++) await w.push(sampleTensor('uint8', [1024 * 1024], k * 100 + i));
        await w.close();
      });
      await new Promise((r) => setTimeout(r, 1000));
      const held = server.listStreams().reduce((n, s) => n + s.bytes, 0);
      expect(held).toBeLessThan(4 * 1024 * 1024 + 3 * (1024 * 1024 + 256) + 1);
      const got = await Promise.all(['x', 'y', 'z'].map((stream) => readAll(new FlightProducer('127.0.0.1', server.port!, { stream }))));
      await Promise.all(pushes);
      got.forEach((list, k) => {
        expect(list.length).toBe(8);
        list.forEach((t, i) => expectSameTensor(t, sampleTensor('uint8', [1024 * 1024], k * 100 + i)));
      });
    } finally {
      await server.close({ timeoutMs: 0 });
    }
  });
});

describe('TensorFlightServer connection limits', () => {
  it('a connection with no call open is closed after idleTimeoutMs; the FlightClient reconnects for its next call', async () => {
    const server = await TensorFlightServer.listen({ idleTimeoutMs: 400 });
    const proxy = await FreezableProxy.start(server.port!);
    const client = new FlightClient('127.0.0.1', proxy.port);
    try {
      expect(await client.listFlights()).toEqual([]);
      expect(proxy.connections).toBe(1);
      for (let i = 0; i < 50 && proxy.connections > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(proxy.connections).toBe(0);
      server.createStream('s');
      await server.putTensor(tensor('int32', [1], [1]), { stream: 's' });
      expect((await client.listFlights()).map((f) => f.path[0])).toEqual(['s']);
    } finally {
      client.close();
      await proxy.close();
      await server.close({ timeoutMs: 0 });
    }
  });
});
