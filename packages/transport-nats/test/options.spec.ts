// Target URLs and options, checked at the call (no server needed).
import { codeOfSync } from '@harmonics/conformance';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';
import { parseNatsUrl, CONSUMER_PARAMS, PRODUCER_PARAMS } from '../src/options';

describe('nats:// targets', () => {
  test('host, port, subject and every parameter', () => {
    const p = parseNatsUrl(
      'nats://10.0.0.5:4333/stage.two?stream=S&durable=W&startSequence=7&maxAckPending=16&ackWaitMs=2500&prefetch=1&idleTimeoutMs=900&createStream&replicas=3',
      {},
      PRODUCER_PARAMS,
    );
    expect(p).toEqual({
      servers: ['nats://10.0.0.5:4333'],
      subject: 'stage.two',
      options: {
        stream: 'S',
        durable: 'W',
        startSequence: 7,
        maxAckPending: 16,
        ackWaitMs: 2500,
        prefetch: 1,
        idleTimeoutMs: 900,
        createStream: true,
        replicas: 3,
      },
    });
    expect(parseNatsUrl('nats://h/q?queue=g&startTime=2026-12-01T10:00:00Z', {}, PRODUCER_PARAMS).options).toEqual({
      queue: 'g',
      startTime: '2026-12-01T10:00:00Z',
    });
    expect(parseNatsUrl('tls://h:4443/x?end=false&publishTimeoutMs=5000&chunkBytes=65536', {}, CONSUMER_PARAMS)).toEqual({
      servers: ['tls://h:4443'],
      subject: 'x',
      options: { end: false, publishTimeoutMs: 5000, chunkBytes: 65536 },
    });
  });

  test('credentials: user:pass@ or token@ in the URL, or token / user / pass parameters; the URL wins over options', () => {
    expect(parseNatsUrl('nats://alice:s%40cret@h:4222/x', {}, CONSUMER_PARAMS).options).toEqual({ user: 'alice', pass: 's@cret' });
    expect(parseNatsUrl('nats://t0ken@h:4222/x', {}, CONSUMER_PARAMS).options).toEqual({ token: 't0ken' });
    expect(parseNatsUrl('nats://h:4222/x?token=abc&tls', { token: 'old' }, CONSUMER_PARAMS).options).toEqual({ token: 'abc', tls: true });
  });

  test('mistakes are ERR_INVALID_ARGUMENT or ERR_UNSUPPORTED_SCHEME at the call, naming what to write', () => {
    expect(codeOfSync(() => parseNatsUrl('nats://h:4222/', {}, CONSUMER_PARAMS))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => parseNatsUrl('http://h/x', {}, CONSUMER_PARAMS))).toBe('ERR_UNSUPPORTED_SCHEME');
    expect(codeOfSync(() => parseNatsUrl('nats://h/x?durable=d', {}, CONSUMER_PARAMS))).toBe('ERR_INVALID_ARGUMENT'); // a reader's parameter on a writer
    expect(codeOfSync(() => parseNatsUrl('nats://h/x?prefetch=many', {}, PRODUCER_PARAMS))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new NatsConsumer('subject.only'))).toBe('ERR_INVALID_ARGUMENT'); // no servers, no connection
    expect(codeOfSync(() => new NatsConsumer('has space', { servers: 'nats://h' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new NatsConsumer('x', { servers: 'nats://h', stream: 'a.b' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new NatsProducer('x', { servers: 'nats://h', durable: 'd' }))).toBe('ERR_INVALID_ARGUMENT'); // durable without a stream
    expect(codeOfSync(() => new NatsProducer('x', { servers: 'nats://h', stream: 'S', queue: 'q' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new NatsProducer('x', { servers: 'nats://h', stream: 'S', prefetch: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOfSync(() => new NatsConsumer('x', { servers: 'nats://h', createStream: true }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
