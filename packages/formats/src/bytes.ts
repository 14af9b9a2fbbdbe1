import { type DType, type Tensor, HarmonicsError, dtypeInfo, tensor } from '@harmonics/core';

/**
 * A tensor over little-endian element bytes, without a copy when `bytes` is
 * aligned for the dtype (a copy when it is not).
 * @throws HarmonicsError `ERR_BAD_DTYPE` for a bool byte other than 0/1.
 */
export function tensorFromBytes(dtype: DType, shape: readonly number[], bytes: Uint8Array, what: string): Tensor {
  const info = dtypeInfo(dtype);
  // A copy when misaligned (a Node Buffer from the shared pool often is).
  const b = bytes.byteOffset % info.size === 0 ? bytes : copyBytes(bytes);
  const data = new info.array(b.buffer, b.byteOffset, b.byteLength / info.size);
  try {
    return tensor(dtype, shape, data as never);
  } catch (cause) {
    if (cause instanceof HarmonicsError) throw new HarmonicsError(cause.code, `${what}: ${cause.message}`, { cause });
    throw cause;
  }
}

/** A copy in a new ArrayBuffer (`slice()` would not copy a Node Buffer, whose `slice` is a view). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

/** A tensor's element bytes (a view, no copy). */
export function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const utf8 = /* @__PURE__ */ new TextEncoder();
export function encodeUtf8(s: string): Uint8Array {
  return utf8.encode(s);
}

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new HarmonicsError('ERR_PROTOCOL', `${what} is not valid UTF-8`, { cause });
  }
}

/** Entries of a Map or a plain record, in order. */
export function entriesOf(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, Tensor>);
}
