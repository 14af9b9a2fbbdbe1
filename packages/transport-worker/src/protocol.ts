// The messages of a port channel (README "Protocol"). Every message is a small
// object tagged with the channel's name, so one endpoint (a Worker, a worker's
// global scope) can carry several channels and the application's own messages:
// anything without our tag is left alone.
//
//   reader → writer   { h, k: 'c', b: bytes, v: 1 }   credit: the writer may send `b` more bytes (the first one is the hello)
//   writer → reader   { h, k: 't', d: dtype, s: shape, a: data }   one tensor; `a`'s buffer is transferred
//   writer → reader   { h, k: 'e' }                    end of stream (the writer closed)
//   reader → writer   { h, k: 'x' }                    the reader closed: the writer's pushes reject ERR_CLOSED
import type { DType, Tensor, TypedArray } from '@harmonics/core';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_CHANNEL = 'harmonics';

/**
 * What one tensor costs against the reader's credit: its data bytes plus this
 * much for the message itself (the object, the shape, the structured-clone
 * record), so that a window also bounds how many empty tensors are in flight.
 */
export const MESSAGE_OVERHEAD_BYTES = 1024;

/** Default credit window: bytes the writer may send beyond what the reader has taken. */
export const DEFAULT_WINDOW_BYTES = 64 * 1024 * 1024;

export interface CreditMessage {
  h: string;
  k: 'c';
  b: number;
  v: number;
}
export interface TensorMessage {
  h: string;
  k: 't';
  d: DType;
  s: readonly number[];
  a: TypedArray;
}
export interface ControlMessage {
  h: string;
  k: 'e' | 'x';
}
export type PortMessage = CreditMessage | TensorMessage | ControlMessage;

/** The message if it belongs to `channel`, else undefined. */
export function ours(data: unknown, channel: string): PortMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  return (data as { h?: unknown }).h === channel ? (data as PortMessage) : undefined;
}

export function costOf(t: Tensor): number {
  return t.data.byteLength + MESSAGE_OVERHEAD_BYTES;
}

/**
 * True when sending `data` by transfer detaches nothing but it: a plain
 * `ArrayBuffer` (not shared, not resizable) that the view covers exactly.
 * Views into a larger buffer (core's shared small-record slabs, a slice of a
 * weight file) are copied instead: transferring them would detach the
 * memory under other tensors.
 */
export function transferable(data: TypedArray): boolean {
  const buffer = data.buffer as ArrayBuffer & { resizable?: boolean };
  // By tag, not instanceof: the buffer may come from another realm (an iframe, a vm context).
  if (Object.prototype.toString.call(buffer) !== '[object ArrayBuffer]' || buffer.resizable === true) return false;
  return data.byteOffset === 0 && data.byteLength === buffer.byteLength && buffer.byteLength > 0;
}
