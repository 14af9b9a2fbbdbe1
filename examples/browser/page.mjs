// The page: tensors arrive from Node over one WebSocket, go to the stage in a
// Web Worker (stage-worker.mjs) over message ports, come back, and return to
// Node over a second WebSocket. A table shows each hop live; Node checks the
// final outputs and the page shows its verdict.
import { encodedByteLength } from '@harmonics/core';
import { PortConsumer, PortProducer } from '@harmonics/transport-worker';
import { WebSocketConsumer, WebSocketProducer } from '@harmonics/transport-ws';

const config = await (await fetch('/config.json')).json();
const hops = [
  { name: 'Node (l1) → page', medium: 'WebSocket' },
  { name: 'page → worker (l2+l3)', medium: 'MessagePort' },
  { name: 'worker → page', medium: 'MessagePort' },
  { name: 'page → Node (l4)', medium: 'WebSocket' },
].map((h) => ({ ...h, tensors: 0, bytes: 0, first: 0, last: 0 }));

function count(hop, t) {
  const now = performance.now();
  if (hop.tensors === 0) hop.first = now;
  hop.last = now;
  hop.tensors++;
  hop.bytes += encodedByteLength(t);
}

const body = document.querySelector('#hops');
function render() {
  body.innerHTML = hops
    .map((h) => {
      const seconds = (h.last - h.first) / 1000;
      const rate = seconds > 0 ? (h.bytes / 1e6 / seconds).toFixed(1) : '–';
      return `<tr><td>${h.name}</td><td>${h.medium}</td><td>${h.tensors} / ${config.tensors}</td><td>${(h.bytes / 1e6).toFixed(2)}</td><td>${rate}</td></tr>`;
    })
    .join('');
}
const timer = setInterval(render, 100);

const worker = new Worker('/stage.js', { type: 'module' });
const fromNode = new WebSocketProducer(`ws://${location.hostname}:${config.inPort}/`);
const toNode = new WebSocketConsumer(`ws://${location.hostname}:${config.outPort}/`);
const toStage = new PortConsumer(worker, { channel: 'in', peer: worker });
const fromStage = new PortProducer(worker, { channel: 'out', peer: worker });

const verdict = document.querySelector('#verdict');
try {
  await Promise.all([
    (async () => {
      for await (const x of fromNode) {
        count(hops[0], x);
        count(hops[1], x); // counted before push(): a transfer detaches it
        await toStage.push(x);
      }
      await toStage.close();
    })(),
    (async () => {
      for await (const y of fromStage) {
        count(hops[2], y);
        count(hops[3], y);
        await toNode.push(y);
      }
      await toNode.close();
    })(),
  ]);
  render();
  const result = await (await fetch('/verdict')).json();
  verdict.textContent = result.message;
  verdict.className = result.ok ? 'ok' : 'bad';
} catch (err) {
  verdict.textContent = `FAILED: ${err.code ? `${err.code}: ` : ''}${err.message}`;
  verdict.className = 'bad';
} finally {
  clearInterval(timer);
  render();
}
