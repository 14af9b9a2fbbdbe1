// The stage before the root README's "Quick look": sends activations over TCP.
import { makeConsumer } from '@harmonics/url';
import { upstreamTensors } from './quick-look-data.mjs';

const out = await makeConsumer('tcp://127.0.0.1:9000');
for (const t of upstreamTensors()) await out.push(t);
await out.close();
