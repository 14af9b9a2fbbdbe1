// nats:// targets through makeProducer / makeConsumer, against a real
// nats-server started here (scripts/setup-peers.sh installs it).
import { type NatsServer, expectSameTensor, everyDtypeSamples, startNatsServer } from '@harmonics/conformance';
import type { Tensor } from '@harmonics/core';
import { makeConsumer, makeProducer } from '@harmonics/url';

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);
afterAll(() => server?.stop());

it('a JetStream stream and a durable consumer, from the query, in the scheme:// and the scheme: spellings', async () => {
  const c = await makeConsumer(`nats://127.0.0.1:${server.port}/activations?stream=ACT&createStream`);
  for (const t of everyDtypeSamples()) await c.push(t);
  await c.close();
  const p = await makeProducer(`nats:127.0.0.1:${server.port}/activations?stream=ACT&durable=stage2&prefetch=1`);
  const got: Tensor[] = [];
  for await (const t of p) got.push(t);
  expect(got).toHaveLength(everyDtypeSamples().length);
  got.forEach((t, i) => expectSameTensor(t, everyDtypeSamples()[i]!));
});

it('a plain subject with a queue group; an unknown parameter is ERR_INVALID_ARGUMENT naming the ones it takes', async () => {
  const p = await makeProducer(`nats://127.0.0.1:${server.port}/plain?queue=q`);
  await (p as unknown as { ready: Promise<void> }).ready;
  const c = await makeConsumer(`nats://127.0.0.1:${server.port}/plain`);
  await c.push(everyDtypeSamples()[0]!);
  await c.close();
  expectSameTensor(await p.next(), everyDtypeSamples()[0]!);
  expect(await p.next()).toBeUndefined();
  await p.close();
  await expect(makeProducer(`nats://127.0.0.1:${server.port}/x?stram=S`)).rejects.toMatchObject({
    code: 'ERR_INVALID_ARGUMENT',
    message: expect.stringMatching(/durable/),
  });
});
