// Cases for a client facing a peer that does not behave (DESIGN §5): a server
// that accepts the TCP connection and then says nothing (a black hole: the
// wrong service on the port, a hung process), and a peer that goes silent
// without closing (a frozen machine, a pulled cable; FreezableProxy). Real
// servers, real clients, plain sockets.
import { type Socket, createServer } from 'node:net';
import type { Consumer, Producer, Tensor } from '@harmonics/core';
import { tensor } from '@harmonics/core';
import { errorOf } from './errors.js';
import { expectSameTensor } from './fixtures.js';
import { FreezableProxy } from './proxy.js';

/** A client kind under test and a real server for it. */
export interface ClientLivenessTarget {
  /** A client Producer reading from the server on `port`, with these client options. */
  producer(port: number, options: Record<string, unknown>): Producer;
  /** A client Consumer writing to the server on `port`, with these client options. */
  consumer(port: number, options: Record<string, unknown>): Consumer;
  /** A real server, and how to send a tensor to the client producer connected to it. */
  server(): Promise<{ port: number; send(t: Tensor): Promise<void>; close(): Promise<void> }>;
  /**
   * Client options that notice a silent peer within a second or two (keepalive
   * pings and their timeout, or an idle limit); the README states the defaults.
   */
  fastLiveness: Record<string, unknown>;
  /**
   * The protocol has a handshake a black hole never completes. False for the
   * C++ framing over plain TCP: a server that says nothing is a writer with
   * nothing to say, the silent-peer case.
   */
  handshake?: boolean;
  /** The client can notice a peer gone silent (keepalive or an idle limit). False in browsers: no ping API. */
  silentPeer?: boolean;
}

/** Register jest cases for a client's handling of black holes and silent peers. */
export function runClientLivenessCases(name: string, target: ClientLivenessTarget): void {
  describe(`${name}: peers that do not answer`, () => {
    const handshakeCase = target.handshake === false ? it.skip : it;
    handshakeCase(
      `a server that accepts the connection and never answers: next(), and push() or close(), reject ERR_CONNECT within connectTimeoutMs${
        target.handshake === false ? ' [skipped: the protocol has no handshake]' : ''
      }`,
      async () => {
        const sockets: Socket[] = [];
        const hole = createServer((s) => sockets.push(s.on('error', () => undefined)));
        await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
        const port = (hole.address() as { port: number }).port;
        const producer = target.producer(port, { connectTimeoutMs: 300 });
        const consumer = target.consumer(port, { connectTimeoutMs: 300 });
        try {
          const started = Date.now();
          const [pe, ce] = await Promise.all([
            errorOf(producer.next()),
            errorOf(consumer.push(tensor('int32', [1], [1])).then(() => consumer.close())),
          ]);
          expect([pe?.code, ce?.code]).toEqual(['ERR_CONNECT', 'ERR_CONNECT']);
          expect(Date.now() - started).toBeLessThan(5000);
        } finally {
          await producer.close().catch(() => undefined);
          await consumer.close().catch(() => undefined);
          for (const s of sockets) s.destroy();
          await new Promise((r) => hole.close(r));
        }
      },
    );

    const silentCase = target.silentPeer === false ? it.skip : it;
    silentCase(
      `a server that goes silent without closing: a waiting next() rejects ERR_CONNECTION_LOST, what came before is kept${
        target.silentPeer === false ? ' [skipped: medium lacks a way to notice a silent peer]' : ''
      }`,
      async () => {
        const server = await target.server();
        const proxy = await FreezableProxy.start(server.port);
        const producer = target.producer(proxy.port, target.fastLiveness);
        try {
          const before = tensor('float32', [3], [1.5, -2, 3]);
          const reading = producer.next();
          await server.send(before);
          expectSameTensor(await reading, before);
          const waiting = producer.next();
          proxy.freeze();
          const started = Date.now();
          const err = await errorOf(waiting);
          expect(err?.code).toBe('ERR_CONNECTION_LOST');
          expect(Date.now() - started).toBeLessThan(8000);
        } finally {
          await producer.close().catch(() => undefined);
          await proxy.close();
          await server.close();
        }
      },
    );
  });
}
