import type { Target, Transport, TransportOptions } from '@harmonics/core';
import { DeferredConsumer, DeferredProducer, type ParamKind, applyParams } from '@harmonics/internal';
import { FlightConsumer, type FlightConsumerOptions } from './consumer.js';
import { FlightProducer, type FlightProducerOptions } from './producer.js';
import { TensorFlightServer, type TensorFlightListenOptions } from './server.js';
import { waitFor } from './wait.js';

const COMMON: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  maxMessageSize: 'integer',
  flowControlWindow: 'integer',
  connectTimeoutMs: 'number',
  keepAliveMs: 'number',
  keepAliveTimeoutMs: 'number',
  token: 'string',
  listen: 'flag',
  closeTimeoutMs: 'number',
};
const PRODUCER_PARAMS: Record<string, ParamKind> = { ...COMMON, ticket: 'string', column: 'string' };
const CONSUMER_PARAMS: Record<string, ParamKind> = { ...COMMON, batchRows: 'integer', highWaterMark: 'integer' };

interface Params extends FlightConsumerOptions, FlightProducerOptions {
  listen?: boolean;
  /** With `listen`: how long `close()` lets remote clients finish (TensorFlightServer.close's timeoutMs). */
  closeTimeoutMs?: number;
  onListening?: (address: { port: number }) => void;
}

/**
 * `flight:HOST:PORT[/STREAM]` for `@harmonics/url`: a {@link FlightProducer}
 * (DoGet) or {@link FlightConsumer} (DoPut) of the stream (default
 * `tensors`). With `?listen` the target runs a {@link TensorFlightServer} on
 * that address and returns its in-memory producer or consumer of the stream;
 * closing it closes the server (letting remote clients finish within
 * `closeTimeoutMs`).
 */
export const flightTransport: Transport = {
  name: '@harmonics/transport-flight',
  schemes: ['flight'],

  async producer(target: Target, options: TransportOptions) {
    const o = params(target, options, PRODUCER_PARAMS);
    if (o.listen === true) {
      const server = await listen(target, o);
      const producer = new FlightProducer(server, { stream: o.stream });
      return new DeferredProducer(
        async () => producer,
        () => server.close({ timeoutMs: o.closeTimeoutMs }),
        target.href,
      );
    }
    return new FlightProducer(target.host!, target.port!, o);
  },

  async consumer(target: Target, options: TransportOptions) {
    const o = params(target, options, CONSUMER_PARAMS);
    if (o.listen === true) {
      const server = await listen(target, o);
      const consumer = new FlightConsumer(server, { stream: o.stream });
      return new DeferredConsumer(
        async () => consumer,
        async () => {
          // Readers drain the stream before the server goes.
          await waitDrained(server, o.stream ?? 'tensors', o.closeTimeoutMs ?? 5000);
          await server.close({ timeoutMs: o.closeTimeoutMs });
        },
        target.href,
      );
    }
    return new FlightConsumer(target.host!, target.port!, o);
  },
};

function params(target: Target, options: TransportOptions, spec: Record<string, ParamKind>): Params {
  const o = applyParams<Params>(target, options, spec);
  const out: Params = { ...o };
  if (target.path !== undefined && target.path !== '') out.stream = target.path;
  return out;
}

async function listen(target: Target, o: Params): Promise<TensorFlightServer> {
  // A listening target takes TensorFlightListenOptions (its `tls` is the server's key and certificate).
  const server = await TensorFlightServer.listen({ ...(o as unknown as TensorFlightListenOptions), host: target.host, port: target.port });
  o.onListening?.({ port: server.port! });
  return server;
}

/** Wait until a stream's queue is empty (readers took everything), at most `ms`. */
async function waitDrained(server: TensorFlightServer, stream: string, ms: number): Promise<void> {
  const s = server.stream(stream);
  const signal = AbortSignal.timeout(ms);
  while (s.size > 0) {
    try {
      await waitFor((wake) => s.onRoom(wake), signal, 'waiting for readers to drain the stream');
    } catch {
      return; // timed out: close anyway
    }
  }
}
