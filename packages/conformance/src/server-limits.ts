// Cases for the connection limits of a networked server (DESIGN §6): a
// connection count beyond which new connections are refused while those open
// are served, and a handshake limit for connections that never start the
// protocol. The server is real and so are the clients; silent connections are
// plain TCP sockets that never send a byte.
import { connect, type Socket } from 'node:net';
import type { Consumer, Tensor } from '@harmonics/core';
import { tensor } from '@harmonics/core';
import { codeOf } from './errors.js';
import { expectSameTensor } from './fixtures.js';

/** A server under test and how to reach it. */
export interface ServerLimitsTarget<S extends { port: number | undefined; close(options?: { timeoutMs?: number }): Promise<void> }> {
  /** Start a server on a free port of 127.0.0.1 with these limits. */
  listen(options: { maxConnections?: number; handshakeTimeoutMs?: number }): Promise<S>;
  /** A client Consumer writing to the server on `port`. */
  consumer(port: number): Consumer;
  /** Take the next tensor clients wrote, on the server's side. */
  read(server: S): Promise<Tensor | undefined>;
  /** The code a client refused for the connection limit gets. Default `ERR_CONNECT`. */
  refusedCode?: string;
  /** Start a TLS server with these limits, when the server takes TLS. */
  listenTls?(options: { handshakeTimeoutMs?: number }): Promise<S>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openSilent(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    s.resume(); // read (and drop) what the server sends, so that its FIN is seen
  });
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Register jest cases for a server's `maxConnections` and `handshakeTimeoutMs`. */
export function runServerLimitCases<S extends { port: number | undefined; close(options?: { timeoutMs?: number }): Promise<void> }>(
  name: string,
  target: ServerLimitsTarget<S>,
): void {
  const portOf = (s: S): number => {
    if (s.port === undefined) throw new Error(`${name}: the server has no port`);
    return s.port;
  };

  describe(`${name}: server connection limits`, () => {
    it('a connection that never speaks is closed after handshakeTimeoutMs; a client that does is served', async () => {
      const server = await target.listen({ handshakeTimeoutMs: 300 });
      const silent = await openSilent(portOf(server));
      const client = target.consumer(portOf(server));
      try {
        await client.push(tensor('int32', [2], [1, 2]));
        expect(await closedWithin(silent, 5000)).toBe(true);
        await sleep(400); // past the limit: the talking client's connection stays
        await client.push(tensor('int32', [2], [3, 4]));
        expectSameTensor(await target.read(server), tensor('int32', [2], [1, 2]));
        expectSameTensor(await target.read(server), tensor('int32', [2], [3, 4]));
      } finally {
        silent.destroy();
        await client.close().catch(() => undefined);
        await server.close({ timeoutMs: 0 });
      }
    });

    it('beyond maxConnections a new client is refused at once; clients already connected stay served', async () => {
      const server = await target.listen({ maxConnections: 3, handshakeTimeoutMs: 0 });
      const first = target.consumer(portOf(server));
      const silent: Socket[] = [];
      try {
        await first.push(tensor('int32', [1], [1]));
        silent.push(await openSilent(portOf(server)), await openSilent(portOf(server)));
        await sleep(100); // the server has counted them
        const refused = target.consumer(portOf(server));
        const started = Date.now();
        // A client may buffer its first push; the refusal then comes with close().
        const attempt = refused.push(tensor('int32', [1], [99])).then(() => refused.close());
        expect(await codeOf(attempt)).toBe(target.refusedCode ?? 'ERR_CONNECT');
        expect(Date.now() - started).toBeLessThan(10_000);
        await refused.close().catch(() => undefined);
        await first.push(tensor('int32', [1], [2]));
        for (const s of silent) s.destroy();
        await sleep(200);
        const later = target.consumer(portOf(server));
        await later.push(tensor('int32', [1], [3]));
        await later.close();
        for (const v of [1, 2, 3]) expectSameTensor(await target.read(server), tensor('int32', [1], [v]));
      } finally {
        for (const s of silent) s.destroy();
        await first.close().catch(() => undefined);
        await server.close({ timeoutMs: 0 });
      }
    });

    const tlsCase = target.listenTls === undefined ? it.skip : it;
    tlsCase(
      `over TLS, a connection stalled in its TLS handshake is closed after handshakeTimeoutMs${target.listenTls === undefined ? ' [skipped: no TLS]' : ''}`,
      async () => {
        const server = await target.listenTls!({ handshakeTimeoutMs: 300 });
        const stalled = await openSilent(portOf(server));
        try {
          // The start of a ClientHello (record header, handshake header, version), then nothing.
          stalled.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.alloc(40)]));
          expect(await closedWithin(stalled, 5000)).toBe(true);
        } finally {
          stalled.destroy();
          await server.close({ timeoutMs: 0 });
        }
      },
    );

    it('close() does not wait on connections that never spoke', async () => {
      const server = await target.listen({ handshakeTimeoutMs: 0 });
      const silent = await openSilent(portOf(server));
      try {
        const started = Date.now();
        await server.close({ timeoutMs: 5000 });
        expect(Date.now() - started).toBeLessThan(900);
        expect(await closedWithin(silent, 2000)).toBe(true);
      } finally {
        silent.destroy();
      }
    });
  });
}
