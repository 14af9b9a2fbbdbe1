// @harmonics/url (browser entry): only WebSocket targets load by themselves;
// pass any other transport in `{ transports }`.
import type { Consumer, Producer } from '@harmonics/core';
import { type LoaderTable, type MakeOptions, make } from './make.js';

const ws = { pkg: '@harmonics/transport-ws', exportName: 'wsTransport', load: () => import('@harmonics/transport-ws') };
const nodeOnly = (pkg: string) => ({
  pkg,
  exportName: '',
  load: undefined,
  unavailable: `needs Node (${pkg}); in a browser use ws:// or wss:// targets`,
});

const LOADERS: LoaderTable = {
  ws,
  wss: ws,
  file: nodeOnly('@harmonics/transport-file'),
  tcp: nodeOnly('@harmonics/transport-net'),
  unix: nodeOnly('@harmonics/transport-net'),
  socket: nodeOnly('@harmonics/transport-net'),
  grpc: nodeOnly('@harmonics/transport-grpc'),
  flight: nodeOnly('@harmonics/transport-flight'),
};

/** A Producer for a `ws://` / `wss://` target (or any scheme of a transport passed in `{ transports }`). */
export function makeProducer(target: string, options: MakeOptions = {}): Promise<Producer> {
  return make('producer', target, options, LOADERS);
}

/** A Consumer for a `ws://` / `wss://` target (or any scheme of a transport passed in `{ transports }`). */
export function makeConsumer(target: string, options: MakeOptions = {}): Promise<Consumer> {
  return make('consumer', target, options, LOADERS);
}

export { KNOWN_SCHEMES, parseTarget } from './parse.js';
export type { MakeOptions } from './make.js';
export type { Target, Transport, TransportOptions } from '@harmonics/core';
