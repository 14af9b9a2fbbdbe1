// The client's receive lane (src/fast-receive.ts) against a WebSocket server
// written by hand here (RFC 6455 framing, byte by byte), so the tests choose
// exactly where frames are cut between TCP reads, which frames arrive, and
// what the client answers.
import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { type DType, type Producer, type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { errorOf, expectSameTensor } from '@harmonics/conformance';
import { WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';
import { fastReceived } from '../src/fast-receive';
import { framedHere } from '../src/node-adapter';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A frame: unmasked as a server sends it, or masked with `mask` as a client must; `long16` uses the 16-bit length form even for a short payload. */
function frame(opcode: number, payload: Uint8Array, fin = true, mask?: number[], long16 = false): Buffer {
  const n = payload.length;
  const head =
    n < 126 && !long16
      ? [n]
      : n <= 0xffff
        ? [126, n >> 8, n & 0xff]
        : [127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  if (mask) head[0]! |= 0x80;
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, ...head, ...(mask ?? [])]), body]);
}
const binary = (t: Tensor, mask?: number[]) => frame(0x2, encodeTensor(t), true, mask);
const closeFrame = (code: number, mask?: number[]) => frame(0x8, Buffer.from([code >> 8, code & 0xff]), true, mask);

/** The frames in `bytes` (masked or not): opcodes, masking keys and unmasked payloads. */
function parseFrames(bytes: Buffer): { opcode: number; key: Buffer; payload: Buffer }[] {
  const out: { opcode: number; key: Buffer; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let n = bytes[at + 1]! & 0x7f;
    let h = 2;
    if (n === 126) {
      n = bytes.readUInt16BE(at + 2);
      h = 4;
    } else if (n === 127) {
      n = Number(bytes.readBigUInt64BE(at + 2));
      h = 10;
    }
    const m = bytes[at + 1]! & 0x80 ? 4 : 0;
    const mask = bytes.subarray(at + h, at + h + m);
    const payload = Buffer.from(bytes.subarray(at + h + m, at + h + m + n));
    if (m) for (let i = 0; i < n; i++) payload[i]! ^= mask[i % 4]!;
    out.push({ opcode: bytes[at]! & 0x0f, key: Buffer.from(mask), payload });
    at += h + m + n;
  }
  return out;
}

interface HandServer {
  port: number;
  /** The upgraded socket of the first client; `first` is written together with the 101 response. */
  accepted: Promise<Socket>;
  /** Everything the client sent after the upgrade. */
  received: () => Buffer;
  /** Set when a test wrote a close frame itself: the client's close frame then ends the connection without another. */
  sentClose: boolean;
  close(): Promise<void>;
}

async function handServer(first: Buffer = Buffer.alloc(0)): Promise<HandServer> {
  const server = createServer();
  const got: Buffer[] = [];
  let upgraded: Socket | undefined;
  const accepted = new Promise<Socket>((resolve) => {
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
      upgraded = socket;
      socket.setNoDelay(true);
      // The close handshake: answer the client's close frame (unless we sent ours first), then end the connection.
      socket.on('data', (d: Buffer) => {
        got.push(d);
        const closing = parseFrames(Buffer.concat(got)).find((f) => f.opcode === 0x8);
        if (closing === undefined || socket.writableEnded) return;
        if (hand.sentClose) socket.end();
        else socket.end(frame(0x8, closing.payload));
      });
      socket.on('error', () => undefined);
      socket.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
          first,
        ]),
      );
      resolve(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hand: HandServer = {
    sentClose: false,
    port: (server.address() as { port: number }).port,
    accepted,
    received: () => Buffer.concat(got),
    close: async () => {
      // Upgraded sockets are no longer the http server's to close.
      if (upgraded !== undefined) upgraded.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return hand;
}

/** A client written by hand: the upgrade request, then whatever frames a test writes. */
async function handClient(port: number): Promise<{ socket: Socket; received: () => Buffer }> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const got: Buffer[] = [];
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (d: Buffer) => {
      got.push(d);
      const all = Buffer.concat(got);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!all.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101')) {
        reject(new Error(`upgrade refused: ${all.toString('latin1')}`));
        return;
      }
      got.length = 0;
      if (end + 4 < all.length) got.push(all.subarray(end + 4));
      socket.removeAllListeners('data');
      socket.on('data', (more: Buffer) => got.push(more));
      resolve();
    });
  });
  return { socket, received: () => Buffer.concat(got) };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write `bytes` in pieces of the given sizes (cycled), each its own TCP read on the other side. */
async function writeCut(socket: Socket, bytes: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    socket.write(bytes.subarray(at, at + n));
    at += n;
    await pause(2);
  }
}

/** Small tensors of every element size and rank 0–4, so data sits at every offset mod 8 in the stream. */
function smallTensors(count: number): Tensor[] {
  const kinds: DType[] = ['float64', 'int64', 'float32', 'int32', 'uint16', 'bfloat16', 'uint8', 'bool', 'int8', 'float16'];
  const out: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    const dtype = kinds[i % kinds.length]!;
    const rank = i % 5;
    const shape = Array.from({ length: rank }, (_, d) => 1 + ((i + d) % 7));
    const t = tensor(dtype, shape);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let b = 0; b < bytes.length; b++) bytes[b] = dtype === 'bool' ? (i + b) & 1 : (i * 31 + b * 7) & 0xff;
    out.push(t);
  }
  return out;
}

async function readAll(p: Producer, n: number): Promise<Tensor[]> {
  const out: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const t = await p.next();
    if (t === undefined) throw new Error(`stream ended after ${i} of ${n} tensors`);
    out.push(t);
  }
  return out;
}

describe('client receive lane', () => {
  it('small binary messages cut anywhere between reads (headers split after 1 byte, lengths split) arrive bit-exact and in order', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      const want = smallTensors(300);
      const before = { ...fastReceived };
      // A 700-byte and a 1 KiB float32 tensor among them: 16-bit lengths, whose length bytes the 1-byte cuts split.
      want.splice(100, 0, tensor('float32', [175]), tensor('float32', [256]));
      const stream = Buffer.concat(want.map((t) => binary(t)));
      const reading = readAll(producer, want.length);
      await writeCut(socket, stream, [1, 3, 2, 517, 1, 1, 64, 2900, 5, 1, 1200, 3]);
      const got = await reading;
      got.forEach((t, i) => expectSameTensor(t, want[i]!));
      expect(fastReceived.frames - before.frames).toBe(want.length);
      expect(fastReceived.joined - before.joined).toBeGreaterThan(10);
      server.sentClose = true;
      socket.write(closeFrame(1000));
      expect(await producer.next()).toBeUndefined();
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('pings between messages (one cut in two) are answered with pongs; a close frame ends the stream and what follows it is ignored', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      const [a, b, c, d] = smallTensors(4);
      const ping2 = frame(0x9, Buffer.from('second'));
      socket.write(Buffer.concat([binary(a!), frame(0x9, Buffer.from('first')), binary(b!), ping2.subarray(0, 3)]));
      await pause(5);
      server.sentClose = true;
      socket.write(Buffer.concat([ping2.subarray(3), binary(c!), closeFrame(1000), binary(d!)]));
      for (const t of [a, b, c]) expectSameTensor(await producer.next(), t!);
      expect(await producer.next()).toBeUndefined();
      await pause(20);
      const sent = parseFrames(server.received());
      expect(sent.map((f) => f.opcode)).toEqual([0xa, 0xa, 0x8]);
      expect(sent.map((f) => f.payload.toString('latin1'))).toEqual(['first', 'second', '\x03\xe8']);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('a fragmented message and one over 64 KiB go through ws frame by frame; the lane takes the small ones around them', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      const [a, b, c] = smallTensors(3);
      const big = tensor('float64', [10_000]); // 80 KiB: a 64-bit length
      (big.data as Float64Array).forEach((_, i, x) => (x[i] = i * 1.5 - 7));
      const rec = encodeTensor(b!);
      const fragmented = Buffer.concat([frame(0x2, rec.subarray(0, 5), false), frame(0x0, rec.subarray(5))]);
      const before = fastReceived.frames;
      // ws parses the fragmented message and the big one, frame by frame; the lane takes a and c around them.
      const stream = Buffer.concat([binary(a!), fragmented, binary(big), binary(c!)]);
      await writeCut(socket, stream, [binary(a!).length + 9, 30_000, 50_000, 1]);
      expectSameTensor(await producer.next(), a!);
      expectSameTensor(await producer.next(), b!);
      expectSameTensor(await producer.next(), big);
      expectSameTensor(await producer.next(), c!);
      expect(fastReceived.frames - before).toBe(2);
      socket.write(Buffer.concat(smallTensors(5).map((t) => binary(t))));
      for (const t of smallTensors(5)) expectSameTensor(await producer.next(), t);
      expect(fastReceived.frames - before).toBe(7);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('a message over 64 KiB among small ones in a burst: ws parses that one frame and the lane takes every small one, however the reads cut them', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      const big = tensor('float32', [300_000]); // 1.2 MB: a 64-bit length, ws's to parse
      (big.data as Float32Array).forEach((_, i, x) => (x[i] = i * 0.5 - 3));
      const mid = tensor('int16', [40_000]); // 80 KB
      const want = [...smallTensors(40), big, ...smallTensors(40), mid, ...smallTensors(40)];
      const before = fastReceived.frames;
      const stream = Buffer.concat(want.map((t) => binary(t)));
      const reading = readAll(producer, want.length);
      // Reads that never end between messages, one of them in the middle of the big frame's header.
      const bigAt = Buffer.concat(want.slice(0, 40).map((t) => binary(t))).length;
      await writeCut(socket, stream, [bigAt + 3, 7, 65_536, 700_001, 3, 65_536, 999]);
      const got = await reading;
      got.forEach((t, i) => expectSameTensor(t, want[i]!));
      expect(fastReceived.frames - before).toBe(120);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('the 101 response and the first messages in one write, the last one cut: all arrive in order', async () => {
    const want = smallTensors(20);
    const stream = Buffer.concat(want.map((t) => binary(t)));
    const server = await handServer(stream.subarray(0, stream.length - 10));
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      await pause(10);
      socket.write(stream.subarray(stream.length - 10));
      const got = await readAll(producer, want.length);
      got.forEach((t, i) => expectSameTensor(t, want[i]!));
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('a message that is not a valid record: ERR_PROTOCOL after the ones before it, and the client closes with 1007', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port);
    try {
      const socket = await server.accepted;
      const [a] = smallTensors(1);
      const bad = Buffer.from(encodeTensor(a!));
      bad[0] = 200; // no such dtype
      socket.write(Buffer.concat([binary(a!), frame(0x2, bad)]));
      expectSameTensor(await producer.next(), a!);
      expect((await errorOf(producer.next()))?.code).toBe('ERR_PROTOCOL');
      await pause(20);
      const closing = parseFrames(server.received()).find((f) => f.opcode === 0x8);
      expect(closing?.payload.readUInt16BE(0)).toBe(1007);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it("frames that break RFC 6455 (a masked frame from the server, an unknown opcode) are ws's to refuse: ERR_PROTOCOL after the tensors before them", async () => {
    for (const breaking of [frame(0x2, Buffer.from([1, 2, 3]), true, [1, 2, 3, 4]), frame(0x3, Buffer.from([1]))]) {
      const server = await handServer();
      const producer = new WebSocketProducer('127.0.0.1', server.port);
      try {
        const socket = await server.accepted;
        const [a, b] = smallTensors(2);
        socket.write(Buffer.concat([binary(a!), binary(b!), breaking]));
        expectSameTensor(await producer.next(), a!);
        expectSameTensor(await producer.next(), b!);
        const err = await errorOf(producer.next());
        expect(err?.code).toBe('ERR_PROTOCOL');
        expect(err?.message).toMatch(/WS_ERR_(UNEXPECTED_MASK|INVALID_OPCODE)/);
      } finally {
        await producer.close();
        await server.close();
      }
    }
  });

  it('a small message over maxMessageBytes is refused by ws: ERR_TOO_LARGE, the client closes with 1009', async () => {
    const server = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', server.port, '/', { maxMessageBytes: 500 });
    try {
      const socket = await server.accepted;
      const small = tensor('uint8', [100]);
      socket.write(Buffer.concat([binary(small), binary(tensor('float32', [256]))]));
      expectSameTensor(await producer.next(), small);
      expect((await errorOf(producer.next()))?.code).toBe('ERR_TOO_LARGE');
      await pause(20);
      const closing = parseFrames(server.received()).find((f) => f.opcode === 0x8);
      expect(closing?.payload.readUInt16BE(0)).toBe(1009);
    } finally {
      await producer.close();
      await server.close();
    }
  });
});

describe('server receive lane (masked frames)', () => {
  it('small masked messages cut anywhere between reads, under every mask, arrive bit-exact and in order', async () => {
    const server = await WebSocketServer.listen();
    const client = await handClient(server.port);
    const producer = await server.acceptProducer();
    try {
      const want = smallTensors(300);
      want.splice(50, 0, tensor('float32', [256]), tensor('int64', [90]));
      const masks = [
        [0, 0, 0, 0],
        [0xff, 0xff, 0xff, 0xff],
        [1, 2, 3, 4],
        [0x9e, 0x37, 0x79, 0xb9],
      ];
      const before = { ...fastReceived };
      const stream = Buffer.concat(want.map((t, i) => binary(t, masks[i % masks.length])));
      const reading = readAll(producer, want.length);
      await writeCut(client.socket, stream, [1, 5, 3, 700, 1, 7, 2900, 2, 1, 6, 1300]);
      const got = await reading;
      got.forEach((t, i) => expectSameTensor(t, want[i]!));
      expect(fastReceived.frames - before.frames).toBe(want.length);
      expect(fastReceived.joined - before.joined).toBeGreaterThan(10);
    } finally {
      client.socket.destroy();
      await producer.close();
      await server.close();
    }
  });

  it("a masked ping between messages gets a pong; the client's close frame ends the stream cleanly and is answered", async () => {
    const server = await WebSocketServer.listen();
    const client = await handClient(server.port);
    const producer = await server.acceptProducer();
    try {
      const [a, b] = smallTensors(2);
      const mask = [5, 6, 7, 8];
      const ping = frame(0x9, Buffer.from('are you there'), true, mask);
      client.socket.write(Buffer.concat([binary(a!, mask), ping.subarray(0, 4)]));
      await pause(5);
      client.socket.write(Buffer.concat([ping.subarray(4), binary(b!, mask), closeFrame(1000, mask)]));
      expectSameTensor(await producer.next(), a!);
      expectSameTensor(await producer.next(), b!);
      expect(await producer.next()).toBeUndefined();
      await pause(20);
      const answers = parseFrames(client.received());
      expect(answers.map((f) => f.opcode)).toEqual([0xa, 0x8]);
      expect(answers[0]!.payload.toString()).toBe('are you there');
      expect(answers[1]!.payload.readUInt16BE(0)).toBe(1000);
    } finally {
      client.socket.destroy();
      await producer.close();
      await server.close();
    }
  });

  it('an unmasked frame from a client is refused by ws: ERR_PROTOCOL after the tensors before it', async () => {
    const server = await WebSocketServer.listen();
    const client = await handClient(server.port);
    const producer = await server.acceptProducer();
    try {
      const [a, b] = smallTensors(2);
      client.socket.write(Buffer.concat([binary(a!, [1, 1, 1, 1]), binary(b!)]));
      expectSameTensor(await producer.next(), a!);
      const err = await errorOf(producer.next());
      expect(err?.code).toBe('ERR_PROTOCOL');
      expect(err?.message).toMatch(/WS_ERR_EXPECTED_MASK/);
    } finally {
      client.socket.destroy();
      await producer.close();
      await server.close();
    }
  });
});

describe('frames a client builds itself', () => {
  it('small records go out as masked frames built here, each with its own key, in order after one sent through ws; the server reads them bit-exact', async () => {
    const hand = await handServer();
    const consumer = new WebSocketConsumer('127.0.0.1', hand.port);
    try {
      await hand.accepted;
      const want = smallTensors(200);
      // The first push waits for the connection to open and goes through ws.send(); the rest are framed here.
      await consumer.push(want[0]!);
      const before = { ...framedHere };
      for (const t of want.slice(1)) await consumer.push(t);
      await consumer.close();
      expect(framedHere.masked - before.masked).toBe(want.length - 1);
      const frames = parseFrames(hand.received());
      expect(frames.map((f) => f.opcode)).toEqual([...want.map(() => 0x2), 0x8]);
      frames.slice(0, -1).forEach((f, i) => expect(f.payload.equals(encodeTensor(want[i]!))).toBe(true));
      // Every key is fresh (RFC 6455 §5.3): 200 random 32-bit keys collide with a chance of about 5e-6.
      expect(new Set(frames.map((f) => f.key.toString('hex'))).size).toBe(frames.length);
    } finally {
      await consumer.close();
      await hand.close();
    }
  });
});

describe('frame headers as sent', () => {
  it('a short payload with a 16-bit length (not minimal, which ws accepts) is read from the right offset on both sides', async () => {
    const [a, b] = smallTensors(2);
    const hand = await handServer();
    const producer = new WebSocketProducer('127.0.0.1', hand.port);
    const server = await WebSocketServer.listen();
    const client = await handClient(server.port);
    const serverSide = await server.acceptProducer();
    try {
      (await hand.accepted).write(Buffer.concat([frame(0x2, encodeTensor(a!), true, undefined, true), binary(b!)]));
      expectSameTensor(await producer.next(), a!);
      expectSameTensor(await producer.next(), b!);
      client.socket.write(Buffer.concat([frame(0x2, encodeTensor(a!), true, [9, 8, 7, 6], true), binary(b!, [1, 2, 3, 4])]));
      expectSameTensor(await serverSide.next(), a!);
      expectSameTensor(await serverSide.next(), b!);
    } finally {
      client.socket.destroy();
      await Promise.all([producer.close(), serverSide.close()]);
      await Promise.all([hand.close(), server.close()]);
    }
  });
});

describe('fast paths off (DESIGN §11)', () => {
  for (const how of ['the fastPaths option', 'HARMONICS_FAST_PATHS=0'] as const) {
    it(`with ${how}, no message takes a fast path, both ways, and every tensor arrives bit-exact and in order`, async () => {
      const off = how === 'the fastPaths option' ? { fastPaths: false } : {};
      const saved = process.env.HARMONICS_FAST_PATHS;
      if (how === 'HARMONICS_FAST_PATHS=0') process.env.HARMONICS_FAST_PATHS = '0';
      try {
        const server = await WebSocketServer.listen(off);
        const up = new WebSocketConsumer(`ws://127.0.0.1:${server.port}/up`, off);
        const fromClient = await server.acceptProducer();
        const down = new WebSocketProducer(`ws://127.0.0.1:${server.port}/down`, off);
        const toClient = await server.acceptConsumer();
        try {
          const want = [...Array.from({ length: 300 }, (_, i) => tensor('int32', [3], [i, -i, 7])), tensor('float64', [64 * 1024])];
          const received = { ...fastReceived };
          const framed = { ...framedHere };
          for (const t of want) await Promise.all([up.push(t), toClient.push(t)]);
          for (const t of want) {
            expectSameTensor(await fromClient.next(), t);
            expectSameTensor(await down.next(), t);
          }
          expect([fastReceived.frames - received.frames, framedHere.frames - framed.frames]).toEqual([0, 0]);
        } finally {
          await up.close();
          await down.close();
          await server.close({ closeConnections: true });
        }
      } finally {
        if (saved === undefined) delete process.env.HARMONICS_FAST_PATHS;
        else process.env.HARMONICS_FAST_PATHS = saved;
      }
    });
  }
});
