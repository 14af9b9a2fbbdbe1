// @harmonics/core/internal: building blocks for Harmonics' own transport
// packages. Not part of the semver-stable surface: may change in a minor release.
export { readU32LE, writeU32LE } from './bytes.js';
export { allocRecordData, checkTensorData, decodeTensorInPlace, parseRecordHeader, tensorFromRecordData, writeRecordHeader } from './codec.js';
export { allocAligned, MAX_SLAB_ALLOCATION } from './slab.js';
export type { RecordHeader } from './codec.js';
export { checkBool } from './tensor.js';
export { raceSignals, throwIfAborted, noop } from './abort.js';
export { abortError, checkPositive, closedError, invalidArgument, tooLargeError } from './errors.js';
export { Ring } from './ring.js';
export { AcceptQueue } from './accept-queue.js';
export { applyParams } from './target-params.js';
export type { ParamKind } from './target-params.js';
export { DeferredConsumer, DeferredProducer } from './deferred.js';
export type { Opener } from './deferred.js';
export {
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONCURRENT_CALLS,
  DEFAULT_SERVER_IDLE_TIMEOUT_MS,
  checkPort,
  keepAliveOptions,
  maxMessageBytesOf,
  serverLimitOptions,
  watchHandshake,
} from './grpc-options.js';
