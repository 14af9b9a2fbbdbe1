import type { Target, Transport, TransportOptions } from '@harmonics/core';
import { DeferredConsumer, DeferredProducer, type ParamKind, applyParams } from '@harmonics/internal';
import { GrpcConsumer, type GrpcConsumerOptions } from './consumer.js';
import { GrpcProducer } from './producer.js';
import { GrpcServer, type GrpcServerOptions } from './server.js';

const COMMON: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  maxMessageSize: 'integer',
  timeoutMs: 'number',
  connectTimeoutMs: 'number',
  keepAliveMs: 'number',
  keepAliveTimeoutMs: 'number',
  flowControlWindow: 'integer',
  listen: 'flag',
  closeTimeoutMs: 'number',
};
const PRODUCER_PARAMS = COMMON;
const CONSUMER_PARAMS: Record<string, ParamKind> = { ...COMMON, highWaterMark: 'integer' };

interface Params extends GrpcConsumerOptions {
  listen?: boolean;
  /** With `listen`: how long `close()` lets remote clients drain the queue (GrpcServer.close's timeoutMs). */
  closeTimeoutMs?: number;
  onListening?: (address: { port: number }) => void;
}

/**
 * `grpc:HOST:PORT` for `@harmonics/url`: a {@link GrpcProducer} (pops) or
 * {@link GrpcConsumer} (pushes) against a `TensorService` broker. With
 * `?listen` the target runs the broker itself ({@link GrpcServer}) and
 * returns its local view; closing it closes the server (gracefully, within
 * `closeTimeoutMs`).
 */
export const grpcTransport: Transport = {
  name: '@harmonics/transport-grpc',
  schemes: ['grpc'],

  async producer(target: Target, options: TransportOptions) {
    const o = params(target, options, PRODUCER_PARAMS);
    if (o.listen === true) {
      const server = await listen(target, o);
      return new DeferredProducer(
        async () => server.producer(),
        () => server.close({ timeoutMs: o.closeTimeoutMs }),
        target.href,
      );
    }
    return new GrpcProducer(target.host!, target.port!, o);
  },

  async consumer(target: Target, options: TransportOptions) {
    const o = params(target, options, CONSUMER_PARAMS);
    if (o.listen === true) {
      const server = await listen(target, o);
      return new DeferredConsumer(
        async () => server.consumer(),
        () => server.close({ timeoutMs: o.closeTimeoutMs }),
        target.href,
      );
    }
    return new GrpcConsumer(target.host!, target.port!, o);
  },
};

function params(target: Target, options: TransportOptions, spec: Record<string, ParamKind>): Params {
  return applyParams<Params>(target, options, spec);
}

async function listen(target: Target, o: Params): Promise<GrpcServer> {
  // A listening target takes GrpcServerOptions (its `tls` is the server's key and certificate).
  const server = await GrpcServer.listen({ ...(o as unknown as GrpcServerOptions), host: target.host, port: target.port });
  o.onListening?.({ port: server.port });
  return server;
}
