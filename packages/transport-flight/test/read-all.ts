import type { Tensor } from '@harmonics/core';
import type { FlightProducer } from '@harmonics/transport-flight';

/** Every tensor until the end, then close the producer (its channel) whatever happened. */
export async function readAll(producer: FlightProducer): Promise<Tensor[]> {
  const out: Tensor[] = [];
  try {
    for await (const t of producer) out.push(t);
  } finally {
    await producer.close();
  }
  return out;
}
