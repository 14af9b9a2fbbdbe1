// @harmonics/formats: tensor files other stacks write (safetensors, NumPy
// .npy/.npz), read by random access from files, Blobs and HTTP Range
// requests, and written to any byte sink. Browser-safe: no Node built-ins.
export { blobSource, bytesSource, fileSource, httpSource, sliceSource } from './source.js';
export type { FileHandleLike, HttpSourceOptions, HttpSourceStats, RandomAccessSource } from './source.js';
export { fileSink, memorySink, streamSink } from './sink.js';
export type { ByteSink, MemorySink, WritableFileHandleLike } from './sink.js';
export {
  DEFAULT_MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  SafetensorsConsumer,
  SafetensorsFile,
  encodeSafetensors,
  openSafetensors,
  parseSafetensorsHeader,
  safetensorsHeader,
  writeSafetensors,
} from './safetensors.js';
export type {
  OpenSafetensorsOptions,
  ReadManyOptions,
  SafetensorsEntry,
  SafetensorsEntryInfo,
  SafetensorsHeader,
  WriteSafetensorsOptions,
} from './safetensors.js';
export { DEFAULT_MAX_NPY_HEADER_BYTES, decodeNpy, encodeNpy, npyHeader, parseNpyHeader, readNpy, writeNpy } from './npy.js';
export type { NpyHeader, ReadNpyOptions } from './npy.js';
export { NpzConsumer, NpzFile, crc32, openNpz, writeNpz } from './npz.js';
export { NamedProducer } from './named-producer.js';
export type { NpzEntry, WriteNpzOptions } from './npz.js';
