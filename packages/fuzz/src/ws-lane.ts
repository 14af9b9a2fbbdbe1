// Differential fuzzing of transport-ws's receive lane (src/fast-receive.ts)
// against `ws` itself: the same bytes go to a WebSocket with the lane in front
// of `ws`'s parser and to one without, and both must report the same thing:
// the same messages (bytes and binary/text), pings and pongs, errors (ws's
// code), close code and reason, and the same bytes written back (pongs, close
// frames). Either role: a server reading a client's masked frames, and a
// client reading a server's unmasked ones.
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { receiveFast } from '../../transport-ws/src/fast-receive.js';
import { type Rng, concat, int, mutate } from './mutate.js';

/** A socket-like Duplex that records what is written to it and lets us emit what the peer sent. */
class RecordingSocket extends Duplex {
  readonly written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written.push(Buffer.from(chunk));
    cb();
  }
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
}

/** What one side reported, in order, as comparable strings. */
type Transcript = string[];

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Feed `chunks` to a WebSocket in `role`, with or without the lane, and transcribe what it reports. */
async function transcribe(chunks: Uint8Array[], role: LaneRole, lane: boolean): Promise<Transcript> {
  const out: Transcript = [];
  const socket = new RecordingSocket();
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket)(null, undefined, {});
  // A server-side WebSocket (no address) is what WebSocketServer makes; the client role flips the
  // flag setSocket reads (ws's private _isServer) so that its Receiver expects unmasked frames.
  if (role.name === 'client') (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(s: Duplex, head: Buffer, o: object): void }).setSocket(socket, Buffer.alloc(0), {
    allowSynchronousEvents: true,
    maxPayload: role.maxPayload,
    // WebSocketServer's and the client's default for buffered chunks; a small message fragment limit, so that streams reach it.
    maxBufferedChunks: 256 * 1024,
    maxFragments: 8,
    skipUTF8Validation: false,
    generateMask: (mask: Buffer) => mask.fill(0), // the client role's masks: fixed, so both sides write the same bytes
  });
  ws.on('message', (data: Buffer | Buffer[], isBinary: boolean) => {
    out.push(`message ${isBinary ? 'binary' : 'text'} ${hex(Array.isArray(data) ? Buffer.concat(data) : data)}`);
  });
  if (lane && !receiveFast(ws, (payload) => out.push(`message binary ${hex(payload)}`)))
    throw new Error('receiveFast refused this ws: its internals changed');
  ws.on('ping', (data: Buffer) => out.push(`ping ${hex(data)}`));
  ws.on('pong', (data: Buffer) => out.push(`pong ${hex(data)}`));
  ws.on('error', (err: Error & { code?: string }) => out.push(`error ${err.code ?? ''} ${err.message}`));
  const closed = new Promise<void>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => {
      out.push(`close ${code} ${hex(reason)}`);
      resolve();
    }),
  );
  for (const chunk of chunks) {
    // Each side gets its own copy: the lane unmasks in place.
    socket.emit('data', Buffer.from(chunk));
  }
  socket.emit('end');
  socket.destroy();
  await closed;
  out.push(`wrote ${hex(Buffer.concat(socket.written))}`);
  return out;
}

/** Which side reads, and its limit. */
export interface LaneRole {
  name: 'server' | 'client';
  /** ws's maxPayload (the lane takes frames up to min(64 KiB, this)). */
  maxPayload: number;
}

/** Run both and throw (an untyped error: a finding) when they differ. */
export async function differential(chunks: Uint8Array[], role: LaneRole): Promise<number> {
  const withLane = await transcribe(chunks, role, true);
  const withoutLane = await transcribe(chunks, role, false);
  const n = Math.max(withLane.length, withoutLane.length);
  for (let i = 0; i < n; i++) {
    if (withLane[i] !== withoutLane[i]) {
      const cut = (s: string | undefined): string => (s === undefined ? '(nothing)' : s.length > 200 ? `${s.slice(0, 200)}…` : s);
      throw new Error(`the lane and ws differ at event ${i}: lane said ${cut(withLane[i])}, ws said ${cut(withoutLane[i])}`);
    }
  }
  return withLane.filter((e) => e.startsWith('message')).length;
}

// ---- frames -----------------------------------------------------------------------------------

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload: Uint8Array;
  /** Mask the payload (a client's frames must be, a server's must not). */
  masked: boolean;
  /** Length encoding: the shortest (7 bits, or 16, or 64), or a longer one than needed. */
  length?: 'shortest' | '16' | '64';
  maskKey?: readonly number[];
}

/** One WebSocket frame (RFC 6455 §5.2) as written on the wire. */
export function frame(spec: FrameSpec): Uint8Array {
  const { payload } = spec;
  const len = payload.length;
  const enc = spec.length ?? 'shortest';
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const m = spec.masked ? 0x80 : 0;
  if (enc === 'shortest' && len < 126) head.push(m | len);
  else if ((enc === 'shortest' && len < 0x10000) || enc === '16') head.push(m | 126, (len >>> 8) & 0xff, len & 0xff);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  if (!spec.masked) return concat(new Uint8Array(head), payload);
  const key = spec.maskKey ?? [0x37, 0xfa, 0x21, 0x3d];
  const body = payload.map((b, i) => b ^ key[i % 4]);
  return concat(new Uint8Array([...head, ...key]), body);
}

function bytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(rng, 256);
  return b;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Payload lengths around every boundary: the 7-bit/16-bit/64-bit encodings, the lane's limit and ws's maxPayload. */
function payloadLength(rng: Rng, role: LaneRole): number {
  const edges = [
    0,
    1,
    2,
    7,
    124,
    125,
    126,
    127,
    200,
    999,
    1000,
    1001,
    4096,
    65535,
    65536,
    65537,
    role.maxPayload - 1,
    role.maxPayload,
    role.maxPayload + 1,
  ];
  const r = rng();
  if (r < 0.5) return int(rng, 130);
  if (r < 0.8) return Math.max(0, edges[int(rng, edges.length)]);
  return int(rng, 2048);
}

/** One random frame of any kind, valid or not, as `role`'s peer would send it (mostly). */
function randomFrame(rng: Rng, role: LaneRole, state: { fragmenting: boolean }): Uint8Array {
  const masked = rng() < 0.97 ? role.name === 'server' : role.name !== 'server';
  const lengthEnc = (): FrameSpec['length'] => {
    const r = rng();
    return r < 0.8 ? 'shortest' : r < 0.9 ? '16' : '64';
  };
  const maskKey = rng() < 0.5 ? undefined : [int(rng, 256), int(rng, 256), int(rng, 256), int(rng, 256)];
  const r = rng();
  if (r < 0.45) {
    // a whole binary message: the lane's own case
    return frame({ opcode: 2, payload: bytes(rng, payloadLength(rng, role)), masked, length: lengthEnc(), maskKey });
  }
  if (r < 0.6) {
    // a fragment: start, continue or end a fragmented message
    const opcode = state.fragmenting ? 0 : rng() < 0.8 ? 2 : 1;
    const fin = state.fragmenting ? rng() < 0.5 : false;
    state.fragmenting = !fin;
    const payload = opcode === 1 || rng() < 0.2 ? utf8('héllo ✓ '.repeat(int(rng, 4))) : bytes(rng, payloadLength(rng, role));
    return frame({ opcode, fin, payload, masked, length: lengthEnc(), maskKey });
  }
  if (r < 0.75) {
    // a control frame (mid-fragment or not): ping, pong or close
    const kind = [9, 10, 8][int(rng, 3)];
    let payload: Uint8Array;
    if (kind === 8) {
      const codes = [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1015, 999, 2999, 3000, 4999, 5000];
      const code = codes[int(rng, codes.length)];
      const reason = rng() < 0.2 ? new Uint8Array([0xc3, 0x28]) : utf8(['', 'bye', 'é'][int(rng, 3)]);
      const c = rng() < 0.1 ? new Uint8Array(rng() < 0.5 ? 0 : 1) : concat(new Uint8Array([code >> 8, code & 0xff]), reason);
      payload = c;
    } else payload = bytes(rng, rng() < 0.9 ? int(rng, 126) : 126 + int(rng, 10));
    return frame({ opcode: kind, fin: rng() < 0.95, payload, masked, length: rng() < 0.95 ? 'shortest' : '16', maskKey });
  }
  if (r < 0.85) {
    // a text message, valid UTF-8 or not
    const payload = rng() < 0.7 ? utf8('tensor ✓'.repeat(int(rng, 5))) : new Uint8Array([0x61, 0xff, 0xfe, 0x62].slice(0, 1 + int(rng, 4)));
    return frame({ opcode: 1, payload, masked, length: lengthEnc(), maskKey });
  }
  // reserved bits, unknown opcodes, a continuation out of nowhere
  const opcode = [3, 7, 0xb, 0xf, 0, 2][int(rng, 6)];
  return frame({ opcode, rsv: int(rng, 8), fin: rng() < 0.8, payload: bytes(rng, int(rng, 40)), masked, maskKey });
}

/** A stream of 1 to 8 random frames. */
function randomStream(rng: Rng, role: LaneRole): Uint8Array {
  const state = { fragmenting: false };
  const frames: Uint8Array[] = [];
  for (let k = 1 + int(rng, 8); k > 0; k--) frames.push(randomFrame(rng, role, state));
  return concat(...frames);
}

/** Cut `stream` into chunks: whole, every byte alone (up to 4 KiB), at one point, or at several random points. */
export function rechunk(stream: Uint8Array, rng: Rng): Uint8Array[] {
  const r = rng();
  if (r < 0.15 || stream.length < 2) return [stream];
  if (r < 0.3 && stream.length <= 4096) return Array.from(stream, (b) => new Uint8Array([b]));
  const cuts = new Set<number>();
  const k = r < 0.6 ? 1 : 2 + int(rng, 8);
  for (let i = 0; i < k; i++) cuts.add(1 + int(rng, stream.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), stream.length];
  const out: Uint8Array[] = [];
  for (let i = 1; i < points.length; i++) out.push(stream.subarray(points[i - 1], points[i]));
  return out;
}

/** Streams every fuzz run starts from (and the CI test splits at every byte): each kind of frame at least once. */
export function laneCorpus(role: LaneRole): Uint8Array[] {
  const masked = role.name === 'server';
  const f = (spec: Omit<FrameSpec, 'masked'> & { masked?: boolean }): Uint8Array => frame({ masked, ...spec });
  const seq = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  const close = (code: number, reason = ''): Uint8Array => f({ opcode: 8, payload: concat(new Uint8Array([code >> 8, code & 0xff]), utf8(reason)) });
  return [
    // whole binary messages in every length encoding, each followed by a close
    concat(f({ opcode: 2, payload: seq(0, 1) }), f({ opcode: 2, payload: seq(5, 2) }), f({ opcode: 2, payload: seq(125, 3) }), close(1000, 'bye')),
    concat(
      f({ opcode: 2, payload: seq(126, 4) }),
      f({ opcode: 2, payload: seq(300, 5), length: '16' }),
      f({ opcode: 2, payload: seq(9, 6), length: '16' }),
    ),
    concat(f({ opcode: 2, payload: seq(17, 7), length: '64' }), f({ opcode: 2, payload: seq(3, 8) })),
    // at ws's limit, and one byte over it
    concat(f({ opcode: 2, payload: seq(Math.min(role.maxPayload, 65536), 9) }), f({ opcode: 2, payload: seq(4, 10) })),
    concat(f({ opcode: 2, payload: seq(4, 11) }), f({ opcode: 2, payload: seq(role.maxPayload + 1, 12) })),
    // fragmented, with control frames mid-fragment
    concat(
      f({ opcode: 2, fin: false, payload: seq(10, 13) }),
      f({ opcode: 9, payload: utf8('ping') }),
      f({ opcode: 0, fin: false, payload: seq(20, 14) }),
      f({ opcode: 10, payload: utf8('pong') }),
      f({ opcode: 0, payload: seq(5, 15) }),
      f({ opcode: 2, payload: seq(8, 16) }),
    ),
    concat(f({ opcode: 1, fin: false, payload: utf8('hé') }), f({ opcode: 9, payload: new Uint8Array(0) }), f({ opcode: 0, payload: utf8('llo ✓') })),
    // text, valid and not
    concat(f({ opcode: 1, payload: utf8('tensor ✓') }), f({ opcode: 2, payload: seq(6, 17) })),
    concat(f({ opcode: 2, payload: seq(6, 18) }), f({ opcode: 1, payload: new Uint8Array([0x61, 0xff]) }), f({ opcode: 2, payload: seq(6, 19) })),
    // protocol errors after a good frame: the wrong masking, reserved bits, an unknown opcode, a long ping, a fragmented ping, a stray continuation
    concat(f({ opcode: 2, payload: seq(7, 20) }), f({ opcode: 2, payload: seq(7, 21), masked: !masked })),
    concat(f({ opcode: 2, payload: seq(7, 22) }), f({ opcode: 2, rsv: 4, payload: seq(7, 23) })),
    concat(f({ opcode: 2, payload: seq(7, 24) }), f({ opcode: 3, payload: seq(7, 25) })),
    concat(f({ opcode: 2, payload: seq(7, 26) }), f({ opcode: 9, payload: seq(126, 27), length: '16' })),
    concat(f({ opcode: 2, payload: seq(7, 28) }), f({ opcode: 9, fin: false, payload: seq(3, 29) })),
    concat(f({ opcode: 2, payload: seq(7, 30) }), f({ opcode: 0, payload: seq(3, 31) })),
    concat(f({ opcode: 2, fin: false, payload: seq(7, 32) }), f({ opcode: 2, payload: seq(3, 33) })),
    // closes: invalid codes and reasons; frames after a close
    concat(f({ opcode: 2, payload: seq(7, 34) }), close(1005)),
    concat(f({ opcode: 2, payload: seq(7, 35) }), f({ opcode: 8, payload: new Uint8Array([0x03]) })),
    concat(f({ opcode: 2, payload: seq(7, 36) }), f({ opcode: 8, payload: new Uint8Array([0x03, 0xe8, 0xc3, 0x28]) })),
    concat(close(4000, 'done'), f({ opcode: 2, payload: seq(7, 37) })),
    concat(f({ opcode: 8, payload: new Uint8Array(0) }), f({ opcode: 9, payload: seq(2, 38) })),
    // more fragments than ws's maxFragments (8 here): ws refuses the message
    concat(
      f({ opcode: 2, fin: false, payload: seq(3, 40) }),
      ...Array.from({ length: 9 }, (_, k) => f({ opcode: 0, fin: k === 8, payload: seq(3, 41 + k) })),
      f({ opcode: 2, payload: seq(3, 50) }),
    ),
    // a close frame of length 1 (invalid) whose payload never comes: ws refuses it at its header
    concat(f({ opcode: 2, payload: seq(7, 39) }), f({ opcode: 8, payload: new Uint8Array([0x03]) }).subarray(0, masked ? 6 : 2)),
  ];
}

/** The next input: a fresh random stream (a third), or a corpus stream or an earlier input, mutated; then cut into chunks. */
export function mutateLaneInput(input: Uint8Array[], rng: Rng, role: LaneRole): Uint8Array[] {
  const r = rng();
  let stream: Uint8Array;
  if (r < 0.35) stream = randomStream(rng, role);
  else if (r < 0.5)
    stream = concat(...input); // the same bytes, cut elsewhere
  else stream = mutate(concat(...input), rng);
  if (rng() < 0.2) stream = concat(stream, randomStream(rng, role));
  return rechunk(stream, rng);
}
