// @harmonics/url (Node entry): makeProducer / makeConsumer from target strings.
// Browsers get ./browser.ts through the `browser` export condition.
import type { Consumer, Producer } from '@harmonics/core';
import { type LoaderTable, type MakeOptions, make } from './make.js';

/**
 * Imports an installed transport at run time, from node_modules. The name is
 * not a literal, so bundlers (esbuild, webpack, vite) leave it alone: a
 * transport that is not installed does not break a bundle. A bundled app
 * that ships no node_modules passes `{ transports }` instead.
 */
const importInstalled = (pkg: string) => (): Promise<Record<string, unknown>> => import(/* webpackIgnore: true */ /* @vite-ignore */ pkg);

const net = { pkg: '@harmonics/transport-net', exportName: 'netTransport', load: importInstalled('@harmonics/transport-net') };
const ws = { pkg: '@harmonics/transport-ws', exportName: 'wsTransport', load: importInstalled('@harmonics/transport-ws') };

const LOADERS: LoaderTable = {
  file: { pkg: '@harmonics/transport-file', exportName: 'fileTransport', load: importInstalled('@harmonics/transport-file') },
  tcp: net,
  unix: net,
  socket: net,
  grpc: { pkg: '@harmonics/transport-grpc', exportName: 'grpcTransport', load: importInstalled('@harmonics/transport-grpc') },
  ws,
  wss: ws,
  flight: { pkg: '@harmonics/transport-flight', exportName: 'flightTransport', load: importInstalled('@harmonics/transport-flight') },
  nats: { pkg: '@harmonics/transport-nats', exportName: 'natsTransport', load: importInstalled('@harmonics/transport-nats') },
};

/**
 * A Producer for `target` (DESIGN §8): `file:PATH`, `socket:FD`,
 * `tcp:HOST:PORT`, `unix:PATH`, `grpc:HOST:PORT`, `ws://HOST:PORT/PATH`,
 * `wss://…`, `flight:HOST:PORT[/STREAM]`,
 * `nats://HOST:PORT/SUBJECT[?stream=S&durable=D]`, or the `scheme://`
 * spelling of each. The scheme's package is imported on first use.
 *
 * Errors: `ERR_UNSUPPORTED_SCHEME` (unknown scheme, malformed target),
 * `ERR_INVALID_ARGUMENT` (an unknown parameter or a bad value),
 * `ERR_TRANSPORT_NOT_INSTALLED` (the scheme's package is missing;
 * the message names it), and whatever the transport's constructor throws.
 */
export function makeProducer(target: string, options: MakeOptions = {}): Promise<Producer> {
  return make('producer', target, options, LOADERS);
}

/** A Consumer for `target`; see {@link makeProducer}. */
export function makeConsumer(target: string, options: MakeOptions = {}): Promise<Consumer> {
  return make('consumer', target, options, LOADERS);
}

export { KNOWN_SCHEMES, parseTarget } from './parse.js';
export type { MakeOptions } from './make.js';
export type { Target, Transport, TransportOptions } from '@harmonics/core';
