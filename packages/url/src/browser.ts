// @harmonics/url (browser entry): a browser has no node_modules to import a
// transport from at run time, so nothing loads by itself; pass the transports
// in `{ transports }` (wsTransport for ws:// and wss://, natsTransport for nats://). The bundle then holds
// exactly what the app imports, and bundles whatever else is installed or not.
import type { Consumer, Producer } from '@harmonics/core';
import { type LoaderTable, type MakeOptions, make } from './make.js';

const ws = {
  pkg: '@harmonics/transport-ws',
  exportName: 'wsTransport',
  load: undefined,
  unavailable: `in a browser pass it: import { wsTransport } from '@harmonics/transport-ws'`,
};
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
  nats: {
    pkg: '@harmonics/transport-nats',
    exportName: 'natsTransport',
    load: undefined,
    unavailable: `in a browser pass it: import { natsTransport } from '@harmonics/transport-nats' (HOST:PORT is then the server's WebSocket listener)`,
  },
};

/** A Producer for a target of a transport passed in `{ transports }` (`wsTransport` for `ws://` / `wss://`). */
export function makeProducer(target: string, options: MakeOptions = {}): Promise<Producer> {
  return make('producer', target, options, LOADERS);
}

/** A Consumer for a target of a transport passed in `{ transports }` (`wsTransport` for `ws://` / `wss://`). */
export function makeConsumer(target: string, options: MakeOptions = {}): Promise<Consumer> {
  return make('consumer', target, options, LOADERS);
}

export { KNOWN_SCHEMES, parseTarget } from './parse.js';
export type { MakeOptions } from './make.js';
export type { Target, Transport, TransportOptions } from '@harmonics/core';
