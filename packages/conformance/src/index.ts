export { runTransportSuite } from './suite.js';
export type { SetupOptions, TransportCapabilities, TransportPair, TransportSuiteOptions } from './suite.js';
export { everyDtypeSamples, expectSameTensor, sampleTensor, seededBytes, tensorDifference } from './fixtures.js';
export { goldenDir, goldenFile, goldenRecords } from './golden.js';
export { expectedGoldenTensors } from './golden-values.js';
export { codeOf, codeOfSync, errorOf, errorOfSync } from './errors.js';
export type { CaughtError } from './errors.js';
export { FreezableProxy } from './proxy.js';
