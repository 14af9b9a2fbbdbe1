import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { HarmonicsError } from '@harmonics/core';
import { checkPositive } from '@harmonics/internal';

/** The default {@link LivenessOptions.keepAliveMs}: TCP keepalive probes after 20 s of quiet. */
export const DEFAULT_TCP_KEEPALIVE_MS = 20_000;

/** How a connection notices a peer that went silent without closing. */
export interface LivenessOptions {
  /**
   * Turn on TCP keepalive: after this many ms without traffic the kernel
   * probes the peer, and a peer host that is gone (machine off or frozen,
   * cable pulled, network cut) fails the connection with
   * `ERR_CONNECTION_LOST` once its probes go unanswered (Linux: 9 probes 75 s
   * apart by default, `net.ipv4.tcp_keepalive_*`). A peer process that hangs
   * on a live machine still answers them: see `idleTimeoutMs`. Default
   * 20 000; 0 turns it off. (Only for sockets; other streams are left alone.)
   */
  keepAliveMs?: number;
  /**
   * Drop the connection with `ERR_CONNECTION_LOST` when no byte arrived (a
   * producer) or none of ours was taken while some wait (a consumer) for this
   * many ms. Off by default: the C++ framing has no heartbeat, so a healthy
   * writer that has nothing to send looks exactly like a hung one; set it
   * when you know how often your writer sends.
   */
  idleTimeoutMs?: number;
}

/** Apply keepalive to `socket` (when it is a socket). */
export function keepAlive(socket: Duplex | Readable | Writable, keepAliveMs: number | undefined): void {
  checkPositive('keepAliveMs', keepAliveMs, true);
  const ms = keepAliveMs ?? DEFAULT_TCP_KEEPALIVE_MS;
  const s = socket as Partial<Socket>;
  if (ms > 0 && typeof s.setKeepAlive === 'function') s.setKeepAlive(true, ms);
}

/**
 * Watch `socket` for `idleTimeoutMs` without traffic; `stalled()` says whether
 * the quiet counts (a consumer with nothing queued is merely idle).
 */
export function idleLimit(socket: Duplex | Readable | Writable, idleTimeoutMs: number | undefined, stalled: () => boolean, role: string): void {
  checkPositive('idleTimeoutMs', idleTimeoutMs);
  const s = socket as Partial<Socket>;
  if (idleTimeoutMs === undefined || typeof s.setTimeout !== 'function') return;
  s.setTimeout(idleTimeoutMs);
  socket.on('timeout', () => {
    if (!stalled()) return;
    socket.destroy(
      new HarmonicsError(
        'ERR_CONNECTION_LOST',
        `the connection ${role} went silent: nothing moved for ${idleTimeoutMs} ms (idleTimeoutMs); the peer stopped without closing`,
      ),
    );
  });
}
