// pnpm bench [--json FILE] [--only PREFIX]
import { writeFileSync } from 'node:fs';
import { busCases } from './bus.js';
import { codecCases } from './codec.js';
import { fileCases } from './file.js';
import { flightCases } from './flight.js';
import { formatsCases } from './formats.js';
import { grpcCases } from './grpc.js';
import { natsCases } from './nats.js';
import { netCases } from './net.js';
import { workerCases } from './worker.js';
import { wsCases } from './ws.js';
import { type BenchRow, type Case, printHeader, printRow, runCase } from './harness.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const only = arg('--only');
  const json = arg('--json');
  const groups: (() => Case[] | Promise<Case[]>)[] = [
    codecCases,
    busCases,
    fileCases,
    formatsCases,
    netCases,
    grpcCases,
    wsCases,
    flightCases,
    workerCases,
    natsCases,
  ];
  const rows: BenchRow[] = [];
  console.log(`Harmonics bench — node ${process.version}, medians of alternating runs; ratio = harmonics / baseline (higher is better)`);
  printHeader();
  for (const group of groups) {
    for (const c of await group()) {
      if (only && !c.name.startsWith(only)) continue;
      const row = await runCase(c);
      rows.push(row);
      printRow(row);
    }
  }
  if (json) {
    writeFileSync(json, JSON.stringify({ rows }, null, 2) + '\n');
    console.log(`wrote ${rows.length} rows to ${json}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
