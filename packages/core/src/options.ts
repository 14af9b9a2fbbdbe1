// The option vocabulary (DESIGN §10): one name, one meaning, in every package.
// Types only, so it costs browsers nothing.

/**
 * Options every network transport takes under these names, with these
 * meanings. Each package documents its defaults beside them.
 */
export interface ConnectionOptions {
  /**
   * Largest record, counted as the whole DESIGN §4 record (header and data),
   * sent or received. A bigger one is refused with `ERR_TOO_LARGE` before
   * anything is allocated or sent. Default 256 MiB ({@link DEFAULT_MAX_MESSAGE_BYTES}).
   */
  maxMessageBytes?: number;
  /**
   * Clients: give up connecting after this long, every handshake included
   * (TLS, HTTP/2, the WebSocket upgrade): `ERR_CONNECT`. Default 10 s
   * ({@link DEFAULT_CONNECT_TIMEOUT_MS}).
   */
  connectTimeoutMs?: number;
  /**
   * How often to probe a connection that has been quiet (TCP keepalive,
   * gRPC/HTTP/2 pings, WebSocket pings), so a peer that vanished without
   * closing is noticed. 0 turns probing off. Defaults per transport.
   */
  keepAliveMs?: number;
  /**
   * Drop a connection on which nothing was heard for this long with
   * `ERR_CONNECTION_LOST`. Defaults per transport (off where the protocol has
   * no heartbeat, such as the C++ byte-stream framing).
   */
  idleTimeoutMs?: number;
  /** How long `close()` waits for the peer to take the end of the stream before dropping the connection. */
  closeTimeoutMs?: number;
}

/** Options of every server's `close()`. */
export interface ServerCloseOptions {
  /**
   * How long connections and calls already served may run to finish before
   * they are dropped. Defaults per server.
   */
  timeoutMs?: number;
}

/**
 * What every Harmonics server has: a static `listen()` (not expressible in an
 * interface), the port it listens on, `close()` and `await using`.
 */
export interface ListeningServer extends AsyncDisposable {
  /** The TCP port listened on; `undefined` where there is none (a Unix socket, an in-memory server). */
  readonly port: number | undefined;
  /** Stop accepting, let what is running finish within `timeoutMs`, then release everything. Idempotent. */
  close(options?: ServerCloseOptions): Promise<void>;
}
