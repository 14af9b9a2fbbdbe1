import { type Consumer, HarmonicsError, type Producer, type Target, type Transport, type TransportOptions } from '@harmonics/core';
import { type ParamKind, applyParams } from '@harmonics/internal';

const PRODUCER_PARAMS: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  closeTimeoutMs: 'number',
  connectTimeoutMs: 'number',
  keepAliveMs: 'number',
  idleTimeoutMs: 'number',
  listen: 'flag',
};
const CONSUMER_PARAMS: Record<string, ParamKind> = { ...PRODUCER_PARAMS, highWaterMark: 'integer' };

/** What a build (Node or browser) plugs into {@link wsTransportFor}. */
export interface WsBuild {
  producer(url: string, options: Record<string, unknown>): Producer;
  consumer(url: string, options: Record<string, unknown>): Consumer;
  /** Bind the target and wrap the first peer (Node only). */
  listen?: (kind: 'producer' | 'consumer', target: Target, options: Record<string, unknown>) => Promise<Producer | Consumer>;
}

/**
 * `ws://HOST:PORT/PATH` and `wss://…` for `@harmonics/url`. Our parameters
 * (`maxMessageBytes`, `closeTimeoutMs`, `connectTimeoutMs`, `highWaterMark`,
 * `listen`) are taken out of the query; any other parameter stays in the
 * URL the client connects to (a server may want `?token=…`).
 */
export function wsTransportFor(build: WsBuild): Transport {
  const make = async (kind: 'producer' | 'consumer', target: Target, options: TransportOptions): Promise<Producer | Consumer> => {
    const spec = kind === 'producer' ? PRODUCER_PARAMS : CONSUMER_PARAMS;
    const ours: Record<string, string> = {};
    const theirs: string[] = [];
    for (const [name, value] of Object.entries(target.params)) {
      if (Object.hasOwn(spec, name)) ours[name] = value;
      else theirs.push(value === '' ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    }
    const o = applyParams<Record<string, unknown>>({ ...target, params: ours }, options, spec);
    if (o.listen === true) {
      if (build.listen === undefined) {
        throw new HarmonicsError('ERR_UNSUPPORTED_SCHEME', `${target.href}: ?listen needs Node (a browser cannot accept WebSocket connections)`);
      }
      if (theirs.length > 0)
        throw new HarmonicsError(
          'ERR_UNSUPPORTED_SCHEME',
          `${target.href}: unknown parameter for a listening target; ${target.scheme}: targets take ${Object.keys(spec).join(', ')}`,
        );
      return build.listen(kind, target, o);
    }
    const host = target.host!.includes(':') ? `[${target.host}]` : target.host!;
    const url = `${target.scheme}://${host}:${target.port}${target.path ?? '/'}${theirs.length > 0 ? `?${theirs.join('&')}` : ''}`;
    return kind === 'producer' ? build.producer(url, o) : build.consumer(url, o);
  };
  return {
    name: '@harmonics/transport-ws',
    schemes: ['ws', 'wss'],
    producer: (target, options) => make('producer', target, options) as Promise<Producer>,
    consumer: (target, options) => make('consumer', target, options) as Promise<Consumer>,
  };
}
