// Tensor ↔ Arrow: a tensor is one row of a column of the canonical extension
// type arrow.fixed_shape_tensor (storage FixedSizeList<value type>[prod(shape)],
// field metadata ARROW:extension:name / ARROW:extension:metadata {"shape": …}).
// apache-arrow encodes and decodes the flatbuffer messages (Schema,
// RecordBatch); the tensor bytes never pass through it.
import { type DType, type Tensor, type TypedArray, HarmonicsError, MAX_NDIM, dtypeInfo, elementCount, recordHeaderLength } from '@harmonics/core';
import { allocAligned, checkBool, tooLargeError } from '@harmonics/internal';
import {
  type DataType,
  Field,
  FixedSizeList,
  Float,
  Float16,
  Float32,
  Float64,
  Int,
  Int16,
  Int32,
  Int64,
  Int8,
  Message,
  MessageHeader,
  Precision,
  Schema,
  Type,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
} from 'apache-arrow';
import { BufferRegion, FieldNode, RecordBatch as BatchHeader } from 'apache-arrow/ipc/metadata/message';
import { verifyIpcMessage } from './fb-verify.js';

/** The canonical extension name of a tensor column. */
export const EXTENSION_NAME = 'arrow.fixed_shape_tensor';
export const EXTENSION_NAME_KEY = 'ARROW:extension:name';
export const EXTENSION_METADATA_KEY = 'ARROW:extension:metadata';
/**
 * Field metadata key marking a dtype Arrow has no type for: `bfloat16`
 * travels as its raw bits in a uint16 column, `bool` (which Arrow's
 * fixed_shape_tensor does not allow as a value type) as bytes 0/1 in a uint8
 * column. Other readers see the storage type.
 */
export const DTYPE_KEY = 'harmonics:dtype';
/** Name of the tensor column we write. */
export const DEFAULT_COLUMN = 'tensor';
/** IPC encapsulation: 0xFFFFFFFF then the int32 length of the (padded) flatbuffer. */
const CONTINUATION = 0xffffffff;
/** Zero-size tensors (a 0 in the shape) in one record batch, at most: they take no body bytes to bound their count. */
export const MAX_EMPTY_ROWS = 65_536;

const pad8 = (n: number): number => (n + 7) & ~7;

function arrowType(dtype: DType): DataType {
  switch (dtype) {
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'float16':
      return new Float16();
    case 'int8':
      return new Int8();
    case 'int16':
      return new Int16();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'uint8':
    case 'bool':
      return new Uint8();
    case 'uint16':
    case 'bfloat16':
      return new Uint16();
    case 'uint32':
      return new Uint32();
    case 'uint64':
      return new Uint64();
  }
}

/** The dtype of an Arrow value type, or undefined when a tensor cannot hold it. */
function dtypeOf(type: DataType): DType | undefined {
  if (type.typeId === Type.Float) {
    const p = (type as Float).precision;
    return p === Precision.HALF ? 'float16' : p === Precision.SINGLE ? 'float32' : 'float64';
  }
  if (type.typeId === Type.Int) {
    const { bitWidth, isSigned } = type as Int;
    const name = `${isSigned ? 'int' : 'uint'}${bitWidth}`;
    return ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'].includes(name) ? (name as DType) : undefined;
  }
  return undefined;
}

/**
 * Where and how tensors sit in the record batches of one schema. Built once
 * per schema, for sending (from a dtype and shape) or receiving (from a
 * schema message).
 */
export interface TensorLayout {
  readonly dtype: DType;
  /** The shape of each tensor as delivered (logical, row-major). */
  readonly shape: readonly number[];
  /** The shape of the stored elements (`shape` in the extension metadata). */
  readonly physicalShape: readonly number[];
  /** `permutation` from the metadata when it is not the identity. */
  readonly permutation: readonly number[] | undefined;
  readonly dimNames: readonly string[] | undefined;
  /** Elements per tensor (the FixedSizeList size). */
  readonly listSize: number;
  readonly rowBytes: number;
  readonly elementSize: number;
  /** Index of the tensor column's FieldNode and of its first buffer in a record batch. */
  readonly nodeIndex: number;
  readonly bufferIndex: number;
  readonly columnCount: number;
  /** Equal for equal (dtype, logical shape): a producer or consumer compares these to notice a schema change. */
  readonly key: string;
}

/** A layout plus the encoded Schema message, for senders. */
export interface SendLayout extends TensorLayout {
  /** The Schema message flatbuffer (what FlightData.data_header carries). */
  readonly schemaMessage: Uint8Array;
  /** The same, encapsulated for FlightInfo/SchemaResult (continuation marker and length first). */
  readonly ipcSchema: Uint8Array;
  /** RecordBatch headers by row count, encoded once. */
  readonly headers: Map<number, Uint8Array>;
}

export function layoutKey(dtype: DType, shape: readonly number[]): string {
  return `${dtype}[${shape.join(',')}]`;
}

/** The encapsulated IPC form of a message flatbuffer: continuation, length, bytes, zero padding to 8. */
export function encapsulate(message: Uint8Array): Uint8Array {
  const len = pad8(message.length);
  const out = new Uint8Array(8 + len);
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTINUATION, true);
  view.setInt32(4, len, true);
  out.set(message, 8);
  return out;
}

/** The flatbuffer inside an encapsulated IPC message (with or without the continuation marker). */
export function unencapsulate(ipc: Uint8Array): Uint8Array {
  if (ipc.length < 4) throw new HarmonicsError('ERR_PROTOCOL', `an IPC schema of ${ipc.length} bytes is too short`);
  const view = new DataView(ipc.buffer, ipc.byteOffset, ipc.byteLength);
  let o = 0;
  if (view.getUint32(0, true) === CONTINUATION) o = 4;
  if (ipc.length < o + 4) throw new HarmonicsError('ERR_PROTOCOL', 'an IPC schema is cut short');
  const len = view.getInt32(o, true);
  if (len < 0 || o + 4 + len > ipc.length) {
    throw new HarmonicsError('ERR_PROTOCOL', `an IPC schema claims ${len} bytes but has ${ipc.length - o - 4}`);
  }
  return ipc.subarray(o + 4, o + 4 + len);
}

/**
 * The layout we send `dtype`/`shape` tensors with: one column named `column`.
 * @throws HarmonicsError `ERR_BAD_DTYPE` / `ERR_BAD_SHAPE` for what no tensor can be.
 */
export function sendLayout(dtype: DType, shape: readonly number[], column = DEFAULT_COLUMN): SendLayout {
  const info = dtypeInfo(dtype);
  const listSize = elementCount(shape);
  const metadata = new Map<string, string>([
    [EXTENSION_NAME_KEY, EXTENSION_NAME],
    [EXTENSION_METADATA_KEY, JSON.stringify({ shape })],
  ]);
  if (dtype === 'bfloat16' || dtype === 'bool') metadata.set(DTYPE_KEY, dtype);
  const type = new FixedSizeList(listSize, new Field('item', arrowType(dtype), true));
  const schema = new Schema([new Field(column, type, false, metadata)]);
  const schemaMessage = Message.encode(Message.from(schema));
  return {
    dtype,
    shape: Array.from(shape),
    physicalShape: Array.from(shape),
    permutation: undefined,
    dimNames: undefined,
    listSize,
    rowBytes: listSize * info.size,
    elementSize: info.size,
    nodeIndex: 0,
    bufferIndex: 0,
    columnCount: 1,
    key: layoutKey(dtype, shape),
    schemaMessage,
    ipcSchema: encapsulate(schemaMessage),
    headers: new Map(),
  };
}

/** The RecordBatch message (flatbuffer) for `rows` tensors of a send layout; cached per row count. */
export function batchHeader(layout: SendLayout, rows: number): Uint8Array {
  let h = layout.headers.get(rows);
  if (h === undefined) {
    const bytes = rows * layout.rowBytes;
    const header = new BatchHeader(
      rows,
      [new FieldNode(rows, 0), new FieldNode(rows * layout.listSize, 0)],
      [new BufferRegion(0, 0), new BufferRegion(0, 0), new BufferRegion(0, bytes)],
      null,
    );
    h = Message.encode(Message.from(header, pad8(bytes)));
    if (layout.headers.size < 64) layout.headers.set(rows, h);
  }
  return h;
}

function protocol(message: string): HarmonicsError {
  return new HarmonicsError('ERR_PROTOCOL', message);
}

/** FieldNodes and buffers a column of `type` takes in a record batch (Arrow IPC format, version 5). */
function columnSpan(type: DataType, name: string): [nodes: number, buffers: number] {
  switch (type.typeId) {
    case Type.Null:
      return [1, 0];
    case Type.Int:
    case Type.Float:
    case Type.Bool:
    case Type.Decimal:
    case Type.Date:
    case Type.Time:
    case Type.Timestamp:
    case Type.Interval:
    case Type.Duration:
    case Type.FixedSizeBinary:
      return [1, 2];
    case Type.Binary:
    case Type.Utf8:
    case Type.LargeBinary:
    case Type.LargeUtf8:
      return [1, 3];
    case Type.List:
    case Type.LargeList:
    case Type.Map:
    case Type.FixedSizeList:
    case Type.Struct: {
      let nodes = 1;
      let buffers = type.typeId === Type.FixedSizeList || type.typeId === Type.Struct ? 1 : 2;
      for (const child of type.children ?? []) {
        const [n, b] = columnSpan(child.type, `${name}.${child.name}`);
        nodes += n;
        buffers += b;
      }
      return [nodes, buffers];
    }
    default:
      throw protocol(
        `column ${JSON.stringify(name)} has type ${String(type)}, which this reader cannot skip; put the tensor column first or select it with { column }`,
      );
  }
}

function isPermutation(p: unknown, n: number): p is number[] {
  if (!Array.isArray(p) || p.length !== n) return false;
  const seen = new Set<number>();
  for (const v of p) {
    if (!Number.isInteger(v) || v < 0 || v >= n || seen.has(v)) return false;
    seen.add(v);
  }
  return true;
}

/**
 * The layout of the tensors in a Schema message: the column named `column`,
 * or the first `arrow.fixed_shape_tensor` column.
 * @throws HarmonicsError `ERR_PROTOCOL` when there is no such column or its
 *   metadata is malformed, `ERR_BAD_DTYPE` for a value type no tensor has.
 */
export function receiveLayout(schemaMessage: Uint8Array, column?: string): TensorLayout {
  return asProtocolError('the schema message', () => readLayout(schemaMessage, column));
}

/**
 * Run `fn`; anything but a HarmonicsError it throws (apache-arrow reading a
 * field of a message that passed the verifier: an int64 beyond 2^53, a
 * missing table) becomes `ERR_PROTOCOL`, so no input reaches the caller as
 * an untyped error (found by `pnpm fuzz`).
 */
function asProtocolError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    if (cause instanceof HarmonicsError) throw cause;
    throw new HarmonicsError('ERR_PROTOCOL', `${what} is not a valid Arrow IPC message: ${String(cause)}`, { cause });
  }
}

function readLayout(schemaMessage: Uint8Array, column?: string): TensorLayout {
  verifyIpcMessage(schemaMessage, 'the schema message'); // before apache-arrow follows any offset in it
  let message: Message;
  try {
    message = Message.decode(schemaMessage);
  } catch (cause) {
    throw new HarmonicsError('ERR_PROTOCOL', `the schema message is not a valid Arrow IPC message: ${String(cause)}`, { cause });
  }
  if (message.headerType !== MessageHeader.Schema) {
    throw protocol(`expected an Arrow Schema message first, got ${MessageHeader[message.headerType] ?? message.headerType}`);
  }
  const schema = message.header() as Schema;
  const fields = schema.fields;
  const index =
    column === undefined
      ? fields.findIndex((f) => f.metadata.get(EXTENSION_NAME_KEY) === EXTENSION_NAME)
      : fields.findIndex((f) => f.name === column);
  if (index < 0) {
    const names = fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ');
    throw protocol(
      column === undefined
        ? `the stream's schema has no ${EXTENSION_NAME} column (fields: ${names || 'none'}); tensors travel as that extension type`
        : `the stream's schema has no column ${JSON.stringify(column)} (fields: ${names || 'none'})`,
    );
  }
  const field = fields[index];
  if (field.metadata.get(EXTENSION_NAME_KEY) !== EXTENSION_NAME) {
    throw protocol(`column ${JSON.stringify(field.name)} is ${String(field.type)}, not the ${EXTENSION_NAME} extension type`);
  }
  const type = field.type as DataType;
  if (type.typeId !== Type.FixedSizeList) {
    throw protocol(`column ${JSON.stringify(field.name)} is marked ${EXTENSION_NAME} but stored as ${String(type)}, not a FixedSizeList`);
  }
  let meta: { shape?: unknown; permutation?: unknown; dim_names?: unknown };
  try {
    meta = JSON.parse(field.metadata.get(EXTENSION_METADATA_KEY) ?? '');
  } catch {
    throw protocol(`column ${JSON.stringify(field.name)} has no valid JSON in ${EXTENSION_METADATA_KEY}`);
  }
  const physicalShape = meta?.shape;
  if (!Array.isArray(physicalShape) || physicalShape.length > MAX_NDIM || !physicalShape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw protocol(
      `column ${JSON.stringify(field.name)}: "shape" must be an array of up to ${MAX_NDIM} non-negative integers, got ${JSON.stringify(meta?.shape)}`,
    );
  }
  const listSize = (type as FixedSizeList).listSize;
  if (elementCount(physicalShape) !== listSize) {
    throw protocol(`column ${JSON.stringify(field.name)}: shape [${physicalShape.join(', ')}] does not hold the list size ${listSize}`);
  }
  let permutation: number[] | undefined;
  if (meta.permutation !== undefined) {
    if (!isPermutation(meta.permutation, physicalShape.length)) {
      throw protocol(
        `column ${JSON.stringify(field.name)}: "permutation" ${JSON.stringify(meta.permutation)} is not a permutation of its ${physicalShape.length} dims`,
      );
    }
    if (meta.permutation.some((p, i) => p !== i)) permutation = meta.permutation;
  }
  const dimNames = Array.isArray(meta.dim_names) ? meta.dim_names.map(String) : undefined;
  const valueType = (type as FixedSizeList).children[0].type as DataType;
  let dtype = dtypeOf(valueType);
  const marker = field.metadata.get(DTYPE_KEY);
  if (marker === 'bfloat16' && dtype === 'uint16') dtype = 'bfloat16';
  else if (marker === 'bool' && dtype === 'uint8') dtype = 'bool';
  else if (marker !== undefined) {
    throw new HarmonicsError(
      'ERR_BAD_DTYPE',
      `column ${JSON.stringify(field.name)}: ${DTYPE_KEY} ${JSON.stringify(marker)} does not fit its value type ${String(valueType)}`,
    );
  }
  if (dtype === undefined) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `column ${JSON.stringify(field.name)} holds ${String(valueType)} values, which no tensor dtype stores`);
  }
  let nodeIndex = 0;
  let bufferIndex = 0;
  for (let i = 0; i < index; i++) {
    const [n, b] = columnSpan(fields[i].type, fields[i].name);
    nodeIndex += n;
    bufferIndex += b;
  }
  const shape = permutation === undefined ? physicalShape : permutation.map((p) => physicalShape[p]);
  const size = dtypeInfo(dtype).size;
  return {
    dtype,
    shape,
    physicalShape,
    permutation,
    dimNames,
    listSize,
    rowBytes: listSize * size,
    elementSize: size,
    nodeIndex,
    bufferIndex,
    columnCount: fields.length,
    key: layoutKey(dtype, shape),
  };
}

/** What `decodeBatch` needs from a RecordBatch header, cached by the header's bytes. */
interface BatchInfo {
  rows: number;
  offset: number;
  length: number;
}

/** Decodes RecordBatch messages of one layout; remembers the last header so equal headers are parsed once. */
export class BatchDecoder {
  private lastHeader: Uint8Array | undefined;
  private lastInfo: BatchInfo | undefined;

  /**
   * @throws HarmonicsError `ERR_TOO_LARGE` when one tensor of this layout,
   *   as a DESIGN §4 record, is over `maxMessageBytes`: refused at the schema,
   *   before any batch is read.
   */
  constructor(
    readonly layout: TensorLayout,
    maxMessageBytes: number,
  ) {
    const record = recordHeaderLength(layout.shape.length) + layout.rowBytes;
    if (record > maxMessageBytes)
      throw tooLargeError(`a tensor of shape [${layout.shape.join(', ')}] (${layout.dtype}) as a record`, record, maxMessageBytes);
  }

  /**
   * The tensors in one record batch, in row order: views of `body` where its
   * memory is aligned for the dtype, else one copy of the column.
   * @throws HarmonicsError `ERR_PROTOCOL` for a header that is not a plain
   *   record batch of this layout or a body too short for it.
   */
  decode(header: Uint8Array, body: Uint8Array): Tensor[] {
    const info = this.info(header);
    const { layout } = this;
    const { rows, offset, length } = info;
    if (offset + length > body.length) {
      throw protocol(`a record batch's tensor buffer (${length} bytes at ${offset}) runs past its ${body.length}-byte body`);
    }
    const out: Tensor[] = new Array(rows);
    const A = dtypeInfo(layout.dtype).array;
    if (layout.rowBytes === 0) {
      for (let r = 0; r < rows; r++) out[r] = this.make(new A(0));
      return out;
    }
    let region = body.subarray(offset, offset + rows * layout.rowBytes);
    if (layout.dtype === 'bool') checkBool(region);
    if (region.byteOffset % layout.elementSize !== 0) {
      const copy = allocAligned(region.length);
      copy.set(region);
      region = copy;
    }
    for (let r = 0; r < rows; r++) {
      out[r] = this.make(new A(region.buffer, region.byteOffset + r * layout.rowBytes, layout.listSize) as TypedArray);
    }
    return out;
  }

  private make(data: TypedArray): Tensor {
    const { layout } = this;
    if (layout.permutation !== undefined) data = transpose(data, layout.physicalShape, layout.permutation);
    return { dtype: layout.dtype, shape: Array.from(layout.shape), data } as Tensor;
  }

  private info(header: Uint8Array): BatchInfo {
    const last = this.lastHeader;
    if (last !== undefined && last.length === header.length) {
      let same = true;
      for (let i = 0; i < header.length; i++) {
        if (last[i] !== header[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastInfo!;
    }
    const info = this.parse(header);
    this.lastHeader = header.slice();
    this.lastInfo = info;
    return info;
  }

  private parse(headerBytes: Uint8Array): BatchInfo {
    return asProtocolError('a data_header', () => this.parseUnchecked(headerBytes));
  }

  private parseUnchecked(headerBytes: Uint8Array): BatchInfo {
    verifyIpcMessage(headerBytes, 'a data_header');
    let message: Message;
    try {
      message = Message.decode(headerBytes);
    } catch (cause) {
      throw new HarmonicsError('ERR_PROTOCOL', `a data_header is not a valid Arrow IPC message: ${String(cause)}`, { cause });
    }
    if (message.headerType === MessageHeader.DictionaryBatch) {
      throw protocol('dictionary batches are not supported in a tensor stream');
    }
    if (message.headerType !== MessageHeader.RecordBatch) {
      throw protocol(
        `expected a RecordBatch message, got ${MessageHeader[message.headerType] ?? message.headerType} (a second Schema needs a new DoPut)`,
      );
    }
    const h = message.header() as BatchHeader;
    if (h.compression !== null) {
      throw protocol('the record batch is compressed (LZ4/ZSTD); send tensors uncompressed');
    }
    const { layout } = this;
    const rows = Number(h.length);
    if (!Number.isSafeInteger(rows) || rows < 0) throw protocol(`the record batch claims ${String(h.length)} rows`);
    // Zero-size tensors take no body bytes, so their count is bounded here rather than by the message size.
    if (layout.rowBytes === 0 && rows > MAX_EMPTY_ROWS) {
      throw protocol(`the record batch claims ${rows} empty tensors; at most ${MAX_EMPTY_ROWS} are taken in one batch`);
    }
    const list = h.nodes[layout.nodeIndex];
    const child = h.nodes[layout.nodeIndex + 1];
    const values = h.buffers[layout.bufferIndex + 2];
    if (list === undefined || child === undefined || values === undefined) {
      throw protocol(`the record batch has ${h.nodes.length} field nodes and ${h.buffers.length} buffers, too few for its schema`);
    }
    if (list.length !== rows || child.length !== rows * layout.listSize) {
      throw protocol(
        `the record batch's tensor column has ${list.length} rows of ${child.length} values; expected ${rows} rows of ${layout.listSize}`,
      );
    }
    if (list.nullCount !== 0 || child.nullCount !== 0) {
      throw protocol('the tensor column has nulls; a tensor stream carries no null tensors or elements');
    }
    if (values.length < rows * layout.rowBytes) {
      throw protocol(`the tensor buffer has ${values.length} bytes; ${rows} tensors of ${layout.rowBytes} need ${rows * layout.rowBytes}`);
    }
    return { rows, offset: values.offset, length: rows * layout.rowBytes };
  }
}

/**
 * The row-major logical tensor of physically stored elements: logical dim i is
 * physical dim `permutation[i]` (the canonical extension's definition).
 */
export function transpose(data: TypedArray, physicalShape: readonly number[], permutation: readonly number[]): TypedArray {
  const n = physicalShape.length;
  const strides = new Array<number>(n);
  let s = 1;
  for (let i = n - 1; i >= 0; i--) {
    strides[i] = s;
    s *= physicalShape[i];
  }
  const dims = permutation.map((p) => physicalShape[p]);
  const step = permutation.map((p) => strides[p]);
  const out = new (data.constructor as new (n: number) => TypedArray)(data.length);
  const idx = new Array<number>(n).fill(0);
  let src = 0;
  for (let k = 0; k < data.length; k++) {
    (out as unknown as number[])[k] = (data as unknown as number[])[src];
    for (let d = n - 1; d >= 0; d--) {
      idx[d]++;
      src += step[d];
      if (idx[d] < dims[d]) break;
      src -= step[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}
