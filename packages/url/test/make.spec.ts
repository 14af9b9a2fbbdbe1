import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { MessageBus } from '@harmonics/bus';
import { type Consumer, type Producer, type Target, type Tensor, type Transport, tensor } from '@harmonics/core';
import { codeOf, errorOf, everyDtypeSamples, expectSameTensor, expectedGoldenTensors } from '@harmonics/conformance';
import { SocketConsumer, SocketProducer, SocketServer } from '@harmonics/transport-net';
import { GrpcServer } from '@harmonics/transport-grpc';
import { TensorFlightServer } from '@harmonics/transport-flight';
import { WebSocketServer, wsTransport } from '@harmonics/transport-ws';
import { makeConsumer, makeProducer } from '@harmonics/url';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'harmonics-url-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Push `tensors` and close, while reading everything the producer yields. */
async function roundTrip(consumer: Consumer, producer: Producer, tensors: Tensor[]): Promise<Tensor[]> {
  const writing = (async () => {
    for (const t of tensors) await consumer.push(t);
    await consumer.close();
  })();
  const got: Tensor[] = [];
  for await (const t of producer) got.push(t);
  await writing;
  await producer.close();
  return got;
}

function expectSameList(got: Tensor[], expected: Tensor[]): void {
  expect(got).toHaveLength(expected.length);
  got.forEach((t, i) => expectSameTensor(t, expected[i]!));
}

/** A listening target on port 0, and the port it got. */
async function listening(make: (onListening: (a: { port?: number }) => void) => Promise<Producer | Consumer>) {
  let port = 0;
  const made = await make((a) => (port = a.port!));
  expect(port).toBeGreaterThan(0);
  return { made, port };
}

describe('file:', () => {
  it('writes and reads back the golden tensors bit for bit, in both spellings', async () => {
    const path = join(dir, 'golden.bin');
    const c = await makeConsumer(`file:${path}`);
    for (const t of expectedGoldenTensors()) await c.push(t);
    await c.close();
    const p = await makeProducer(`file:///${path.slice(1)}`);
    const read: Tensor[] = [];
    for await (const t of p) read.push(t);
    expectSameList(read, expectedGoldenTensors());
    expect(p.size).toBe(expectedGoldenTensors().length);
  });

  it('?append, ?loop, and ?follow with a ?stream writer', async () => {
    const path = join(dir, 'params.bin');
    const [a, b] = [tensor('int32', [1], [1]), tensor('int32', [1], [2])];
    for (const [target, t] of [
      [`file:${path}`, a],
      [`file:${path}?append`, b],
    ] as const) {
      const c = await makeConsumer(target);
      await c.push(t);
      await c.close();
    }
    const loop = await makeProducer(`file:${path}?loop=true`);
    const five = [];
    for (let i = 0; i < 5; i++) five.push(Array.from((await loop.next())!.data as Int32Array)[0]);
    await loop.close();
    expect(five).toEqual([1, 2, 1, 2, 1]);

    const live = join(dir, 'live.bin');
    const follower = await makeProducer(`file:${live}?follow&idleTimeoutMs=300&pollIntervalMs=5`);
    const writer = await makeConsumer(`file:${live}?stream`);
    const first = follower.next();
    await writer.push(a);
    expectSameTensor(await first, a); // seen while the writer is still open
    await writer.push(b);
    expectSameTensor(await follower.next(), b);
    await writer.close();
    expect(await follower.next()).toBeUndefined(); // idle for 300 ms: the end
  });

  it('a missing file is ERR_CONNECT; loop with follow, or an unknown parameter, is ERR_INVALID_ARGUMENT', async () => {
    const p = await makeProducer(`file:${join(dir, 'nope.bin')}`);
    expect(await codeOf(p.next())).toBe('ERR_CONNECT');
    expect(await codeOf(makeProducer(`file:${join(dir, 'x.bin')}?loop&follow`))).toBe('ERR_INVALID_ARGUMENT');
    const err = await errorOf(makeProducer(`file:${join(dir, 'x.bin')}?lopo`));
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.message).toMatch(/unknown parameter "lopo"; file: targets take maxMessageBytes, loop, follow/);
    expect(await codeOf(makeConsumer(`file:${join(dir, 'x.bin')}?append=maybe`))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('tcp: and unix:', () => {
  it('a client consumer into a SocketServer started by the test', async () => {
    const server = await SocketServer.listen({ port: 0 });
    const accepting = server.acceptProducer();
    const c = await makeConsumer(`tcp:127.0.0.1:${server.port}`);
    const got = await roundTrip(c, await accepting, everyDtypeSamples());
    expectSameList(got, everyDtypeSamples());
    await server.close();
  });

  it('?listen on port 0 reports the port; a tcp:// client connects to it (IPv6 loopback)', async () => {
    const { made, port } = await listening((onListening) => makeProducer('tcp://[::1]:0?listen', { onListening }));
    const c = await makeConsumer(`tcp://[::1]:${port}`);
    expectSameList(await roundTrip(c, made as Producer, expectedGoldenTensors()), expectedGoldenTensors());
  });

  it('unix: a listening consumer and a client producer', async () => {
    const path = join(dir, 'u.sock');
    const listener = await makeConsumer(`unix:${path}?listen`);
    const p = await makeProducer(`unix://${path}`);
    expectSameList(await roundTrip(listener, p, everyDtypeSamples()), everyDtypeSamples());
  });

  it('query parameters reach the transport and override the options object', async () => {
    const { made, port } = await listening((onListening) => makeProducer('tcp:127.0.0.1:0?listen&timeoutMs=100', { onListening, timeoutMs: 60_000 }));
    const c = await makeConsumer(`tcp:127.0.0.1:${port}?maxMessageBytes=1000`, { maxMessageBytes: 1 << 30 });
    const p = made as Producer;
    expect(await codeOf(c.push(tensor('float32', [1000])))).toBe('ERR_TOO_LARGE');
    expect(await codeOf(p.next())).toBe('ERR_TIMEOUT'); // nothing was sent: the 100 ms from the URL apply
    await c.push(tensor('float32', [2], [1, 2]));
    expect(Array.from((await p.next())!.data as Float32Array)).toEqual([1, 2]);
    await c.close();
    await p.close();
  });

  it('no server: ERR_CONNECT naming the address; a busy port: ERR_CONNECT at makeProducer', async () => {
    const server = await SocketServer.listen({ port: 0 });
    const port = server.port!;
    await server.close();
    const p = await makeProducer(`tcp:127.0.0.1:${port}`);
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_CONNECT');
    expect(err?.message).toContain(`127.0.0.1:${port}`);
    await p.close();

    const busy = await SocketServer.listen({ port: 0 });
    expect(await codeOf(makeProducer(`tcp:127.0.0.1:${busy.port}?listen`))).toBe('ERR_CONNECT');
    await busy.close();
  });

  it('closing a listening target before any peer came releases the port', async () => {
    const { made, port } = await listening((onListening) => makeProducer('tcp:127.0.0.1:0?listen', { onListening }));
    const waiting = (made as Producer).next();
    await made.close();
    expect(await codeOf(waiting)).toBe('ERR_CLOSED');
    const again = await makeProducer(`tcp:127.0.0.1:${port}?listen`); // the port is free again
    await again.close();
  });
});

describe('socket:FD', () => {
  it('a child process reads socket:3 and writes socket:4 through makeProducer/makeConsumer', async () => {
    const child = spawn(process.execPath, [join(__dirname, 'fixtures/fd-echo.mjs')], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'] });
    const exited = new Promise((r) => child.once('exit', r));
    const c = new SocketConsumer(child.stdio[3] as Socket);
    const p = new SocketProducer(child.stdio[4] as Socket);
    expectSameList(await roundTrip(c, p, expectedGoldenTensors()), expectedGoldenTensors());
    expect(await exited).toBe(0);
  }, 30_000);

  it('?listen does not apply to a descriptor', async () => {
    expect(await codeOf(makeProducer('socket:3?listen'))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('grpc:', () => {
  it('a client pair through a GrpcServer started by the test', async () => {
    const server = await GrpcServer.listen({ port: 0 });
    const c = await makeConsumer(`grpc:127.0.0.1:${server.port}`);
    const p = await makeProducer(`grpc://127.0.0.1:${server.port}?timeoutMs=10000`);
    expectSameList(await roundTrip(c, p, everyDtypeSamples()), everyDtypeSamples());
    await server.close();
  });

  it('?listen runs the broker; ?maxMessageBytes is its maxMessageSize', async () => {
    const { made, port } = await listening((onListening) => makeProducer('grpc:127.0.0.1:0?listen&maxMessageBytes=8388608', { onListening }));
    const c = await makeConsumer(`grpc:127.0.0.1:${port}`);
    expectSameList(await roundTrip(c, made as Producer, expectedGoldenTensors()), expectedGoldenTensors());

    const { made: small, port: port2 } = await listening((onListening) =>
      makeProducer('grpc:127.0.0.1:0?listen&maxMessageBytes=1000', { onListening }),
    );
    const big = await makeConsumer(`grpc:127.0.0.1:${port2}`);
    await big.push(tensor('float32', [1000])); // handed to gRPC; the server refuses it
    expect(await codeOf(big.close())).toBe('ERR_TOO_LARGE');
    await small.close();
  });

  it('a listening consumer serves a remote GrpcProducer, and its close waits for the drain', async () => {
    const { made, port } = await listening((onListening) => makeConsumer('grpc:127.0.0.1:0?listen&closeTimeoutMs=20000', { onListening }));
    const c = made as Consumer;
    for (const t of everyDtypeSamples()) await c.push(t);
    const closing = c.close();
    const p = await makeProducer(`grpc:127.0.0.1:${port}`);
    const got: Tensor[] = [];
    for await (const t of p) got.push(t);
    await closing;
    expectSameList(got, everyDtypeSamples());
  });
});

describe('flight:', () => {
  it('a client pair through a TensorFlightServer started by the test, on a named stream', async () => {
    const server = await TensorFlightServer.listen({ port: 0 });
    const c = await makeConsumer(`flight:127.0.0.1:${server.port}/activations?batchRows=4`);
    const p = await makeProducer(`flight://127.0.0.1:${server.port}/activations`);
    expectSameList(await roundTrip(c, p, everyDtypeSamples()), everyDtypeSamples());
    expect(server.listStreams().map((s) => [s.name, s.state])).toEqual([['activations', 'ended']]);
    await server.close();
  });

  it('?listen runs a TensorFlightServer; ?maxMessageBytes is its limit', async () => {
    const { made, port } = await listening((onListening) => makeProducer('flight:127.0.0.1:0?listen&maxMessageBytes=8388608', { onListening }));
    const c = await makeConsumer(`flight:127.0.0.1:${port}`);
    expectSameList(await roundTrip(c, made as Producer, expectedGoldenTensors()), expectedGoldenTensors());

    const { made: small, port: port2 } = await listening((onListening) =>
      makeProducer('flight:127.0.0.1:0?listen&maxMessageBytes=100000', { onListening }),
    );
    const big = await makeConsumer(`flight:127.0.0.1:${port2}`);
    await big.push(tensor('float32', [100_000])).catch(() => undefined); // handed to gRPC; the server refuses it
    expect(await codeOf(big.close())).toBe('ERR_TOO_LARGE');
    await small.close();
  });

  it('a listening consumer serves a remote producer of its stream, and its close waits for the drain', async () => {
    const { made, port } = await listening((onListening) => makeConsumer('flight:127.0.0.1:0/out?listen&closeTimeoutMs=20000', { onListening }));
    const c = made as Consumer;
    for (const t of everyDtypeSamples()) await c.push(t);
    const closing = c.close();
    const p = await makeProducer(`flight:127.0.0.1:${port}/out`);
    const got: Tensor[] = [];
    for await (const t of p) got.push(t);
    await closing;
    await p.close();
    expectSameList(got, everyDtypeSamples());
  });

  it('an unknown parameter is ERR_INVALID_ARGUMENT', async () => {
    expect(await codeOf(makeProducer('flight:127.0.0.1:8815?batchRows=4'))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('ws: and wss:', () => {
  it('a client consumer into a WebSocketServer; parameters not ours stay in the URL', async () => {
    const urls: string[] = [];
    const server = await WebSocketServer.listen({ port: 0, path: '/in', verifyClient: ({ req }) => (urls.push(req.url!), true) });
    const accepting = server.acceptProducer();
    const c = await makeConsumer(`ws://127.0.0.1:${server.port}/in?token=a%20b&highWaterMark=65536`);
    expectSameList(await roundTrip(c, await accepting, everyDtypeSamples()), everyDtypeSamples());
    expect(urls).toEqual(['/in?token=a%20b']);
    await server.close();
  });

  it('?listen: the first peer to connect is the stream', async () => {
    const { made, port } = await listening((onListening) => makeProducer('ws://127.0.0.1:0/t?listen', { onListening }));
    const c = await makeConsumer(`ws:127.0.0.1:${port}/t`);
    expectSameList(await roundTrip(c, made as Producer, expectedGoldenTensors()), expectedGoldenTensors());
  });

  it('a wrong path is ERR_HANDSHAKE; a listening wss: target without a certificate is refused', async () => {
    const { made, port } = await listening((onListening) => makeConsumer('ws://127.0.0.1:0/right?listen', { onListening }));
    const p = await makeProducer(`ws://127.0.0.1:${port}/wrong`);
    expect(await codeOf(p.next())).toBe('ERR_HANDSHAKE');
    await made.close();
    expect(await codeOf(makeProducer('wss://127.0.0.1:0/x?listen'))).toBe('ERR_INVALID_ARGUMENT');
  });
});

/** A scheme of the caller's own: tensors through an in-process bus, by name. */
function busTransport(): Transport & { buses: Map<string, MessageBus> } {
  const buses = new Map<string, MessageBus>();
  const bus = (t: Target) => buses.get(t.host!) ?? buses.set(t.host!, new MessageBus()).get(t.host!)!;
  return {
    name: 'test-bus',
    schemes: ['mem'],
    buses,
    producer: async (t) => bus(t).producer(),
    consumer: async (t) => bus(t).consumer(),
  };
}

describe('{ transports }', () => {
  it('serves the schemes of transports passed in, before any import', async () => {
    const mem = busTransport();
    const c = await makeConsumer('mem:layer1:1', { transports: [mem] });
    const p = await makeProducer('mem://layer1:1', { transports: [mem] });
    const t = tensor('float32', [2], [0.5, -0]);
    const got = await roundTrip(c, p, [t]);
    expect(got[0]).toBe(t); // the bus hands the same object on
    expect(mem.buses.size).toBe(1);
  });

  it('an explicitly passed transport serves its known schemes too', async () => {
    const { made, port } = await listening((onListening) => makeProducer('ws://127.0.0.1:0/t?listen', { onListening, transports: [wsTransport] }));
    const c = await makeConsumer(`ws://127.0.0.1:${port}/t`, { transports: [wsTransport] });
    expectSameList(await roundTrip(c, made as Producer, everyDtypeSamples()), everyDtypeSamples());
  });

  it('an unknown scheme names the schemes there are', async () => {
    const err = await errorOf(makeProducer('mem:x:1'));
    expect(err?.code).toBe('ERR_UNSUPPORTED_SCHEME');
    expect(err?.message).toMatch(/unknown scheme "mem:"/);
  });
});

describe('the browser build', () => {
  it('loads no transport by itself: a ws:// target without { transports } says what to pass; with wsTransport it works', async () => {
    const browser = await import('../src/browser');
    const err = await errorOf(browser.makeProducer('ws://127.0.0.1:9/t'));
    expect(err?.code).toBe('ERR_UNSUPPORTED_SCHEME');
    expect(err?.message).toMatch(/import \{ wsTransport \} from '@harmonics\/transport-ws'/);
    expect((await errorOf(browser.makeConsumer('tcp:127.0.0.1:9')))?.message).toMatch(/needs Node/);
    const server = await WebSocketServer.listen({ port: 0, path: '/b' });
    const c = await browser.makeConsumer(`ws://127.0.0.1:${server.port}/b`, { transports: [wsTransport] });
    const p = await server.acceptProducer();
    await c.push(tensor('int32', [2], [7, -7]));
    await c.close();
    expect(Array.from((await p.next())!.data as Int32Array)).toEqual([7, -7]);
    expect(await p.next()).toBeUndefined();
    await server.close();
  });
});
