// One target in a worker thread, so the CLI can stop it if it hangs and give it its own heap limit.
import { parentPort, workerData } from 'node:worker_threads';
import { fuzz } from './harness.js';
import { TARGETS } from './targets.js';

interface Job {
  target: string;
  inputs: number;
  seed: number;
}

const job = workerData as Job;
const target = TARGETS.find((t) => t.name === job.target);
if (target === undefined) throw new Error(`no fuzz target ${job.target}`);
const report = await fuzz(target, {
  inputs: job.inputs,
  seed: job.seed,
  every: 5000,
  progress: (done) => parentPort!.postMessage({ progress: done }),
});
parentPort!.postMessage({ report });
