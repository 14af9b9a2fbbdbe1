// The client's receive lane (src/fast-receive.ts) against a WebSocket server
// written by hand here (RFC 6455 framing, byte by byte), so the tests choose
// exactly where frames are cut between TCP reads, which frames arrive, and
// what the client answers.
import { createHash } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { type DType, type Tensor, encodeTensor, tensor } from '@harmonics/core';
import { errorOf, expectSameTensor } from '@harmonics/conformance';
import { WebSocketProducer } from '@harmonics/transport-ws';
import { decodeOwned } from '../src/channel';
import { fastReceived } from '../src/fast-receive';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array, fin = true, mask?: number[]): Buffer {
  const n = payload.length;
  const head = n < 126 ? [n] : n <= 0xffff ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  if (mask) head[0]! |= 0x80;
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < n; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, ...head, ...(mask ?? [])]), body]);
}
const binary = (t: Tensor) => frame(0x2, encodeTensor(t));
const closeFrame = (code: number) => frame(0x8, Buffer.from([code >> 8, code & 0xff]));

/** What a (masking) client sent: its frames' opcodes and unmasked payloads. */
function clientFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const out: { opcode: number; payload: Buffer }[] = [];
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
    const mask = bytes.subarray(at + h, at + h + 4);
    const payload = Buffer.from(bytes.subarray(at + h + 4, at + h + 4 + n));
    for (let i = 0; i < n; i++) payload[i]! ^= mask[i % 4]!;
    out.push({ opcode: bytes[at]! & 0x0f, payload });
    at += h + 4 + n;
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
        const closing = clientFrames(Buffer.concat(got)).find((f) => f.opcode === 0x8);
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

async function readAll(p: WebSocketProducer, n: number): Promise<Tensor[]> {
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
      const stream = Buffer.concat(want.map(binary));
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
      const sent = clientFrames(server.received());
      expect(sent.map((f) => f.opcode)).toEqual([0xa, 0xa, 0x8]);
      expect(sent.map((f) => f.payload.toString('latin1'))).toEqual(['first', 'second', '\x03\xe8']);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('a fragmented message and one over 64 KiB go through ws; the lane takes the small ones after them', async () => {
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
      // From the fragmented message on, ws parses until a read ends between messages: c is its too.
      const stream = Buffer.concat([binary(a!), fragmented, binary(big), binary(c!)]);
      await writeCut(socket, stream, [binary(a!).length + 9, 30_000, 50_000, 1]);
      expectSameTensor(await producer.next(), a!);
      expectSameTensor(await producer.next(), b!);
      expectSameTensor(await producer.next(), big);
      expectSameTensor(await producer.next(), c!);
      expect(fastReceived.frames - before).toBe(1);
      // ws is idle again between messages: the next small ones take the lane.
      socket.write(Buffer.concat(smallTensors(5).map(binary)));
      for (const t of smallTensors(5)) expectSameTensor(await producer.next(), t);
      expect(fastReceived.frames - before).toBe(6);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('the 101 response and the first messages in one write, the last one cut: all arrive in order', async () => {
    const want = smallTensors(20);
    const stream = Buffer.concat(want.map(binary));
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
      const closing = clientFrames(server.received()).find((f) => f.opcode === 0x8);
      expect(closing?.payload.readUInt16BE(0)).toBe(1007);
    } finally {
      await producer.close();
      await server.close();
    }
  });

  it('frames that break RFC 6455 (a masked frame from the server, an unknown opcode) are ws\'s to refuse: ERR_PROTOCOL after the tensors before them', async () => {
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
      const closing = clientFrames(server.received()).find((f) => f.opcode === 0x8);
      expect(closing?.payload.readUInt16BE(0)).toBe(1009);
    } finally {
      await producer.close();
      await server.close();
    }
  });
});

describe('decodeOwned', () => {
  it('moves misaligned data back over the header: a view of the same memory, aligned, bit-exact, at every offset', () => {
    for (const dtype of ['float64', 'int64', 'float32', 'int16', 'uint8'] as DType[]) {
      for (let shift = 0; shift < 8; shift++) {
        for (const shape of [[], [3], [2, 5]]) {
          const t = tensor(dtype, shape);
          const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
          view.forEach((_, i) => (view[i] = (i * 37 + shift) & 0xff));
          const record = encodeTensor(t);
          const memory = new Uint8Array(record.length + 16);
          memory.set(record, shift);
          const got = decodeOwned(memory.subarray(shift, shift + record.length), 1 << 20);
          expect(got.data.buffer).toBe(memory.buffer);
          expect(got.data.byteOffset % got.data.BYTES_PER_ELEMENT).toBe(0);
          expectSameTensor(got, t);
        }
      }
    }
  });

  it('anything but exactly one valid record gets decodeTensor\'s error', () => {
    const record = encodeTensor(tensor('float32', [4]));
    expect(() => decodeOwned(record.slice(0, 10), 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    expect(() => decodeOwned(new Uint8Array([...record, 0]), 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL' }));
    expect(() => decodeOwned(record.slice(), 8)).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE' }));
  });
});
