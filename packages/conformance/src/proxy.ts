import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP relay in front of a server that can be frozen: after `freeze()` it
 * forwards nothing in either direction and closes nothing, while the kernel
 * keeps acknowledging what arrives. To both ends that is a peer that went
 * silent without closing: a stopped process, a frozen machine, a cable
 * pulled. Used to test keepalive and idle limits.
 */
export class FreezableProxy {
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  private constructor(private readonly server: Server) {}

  /** Relay connections on a free loopback port to `port` on `host`. */
  static async start(port: number, host = '127.0.0.1'): Promise<FreezableProxy> {
    const server = createServer();
    const proxy = new FreezableProxy(server);
    server.on('connection', (client) => proxy.relay(client, port, host));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections relayed now. */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Stop forwarding, in both directions, on every connection now and later. */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /** Drop every connection and stop listening. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, port: number, host: string): void {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        if (!this.frozen) (s === client ? upstream : client).destroy();
      });
      if (this.frozen) s.pause();
    }
    if (this.frozen) return;
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
