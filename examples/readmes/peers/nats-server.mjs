// readme-run: listens=4222 until=signal
// A nats-server with JetStream on 127.0.0.1:4222 for the transport-nats README
// blocks (Debian's nats-server; scripts/setup-peers.sh installs it), storage
// in a temp dir; stops it on SIGTERM and exits 0.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = process.env.HARMONICS_NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');
const store = mkdtempSync(join(tmpdir(), 'readme-nats-'));
const server = spawn(bin, ['-js', '-sd', store, '-a', '127.0.0.1', '-p', '4222'], { stdio: ['ignore', 'ignore', 'inherit'] });
server.on('error', (err) => {
  console.error(`cannot run ${bin}: ${err.message} (scripts/setup-peers.sh installs it)`);
  process.exit(1);
});
let stopping = false;
server.on('exit', (code) => {
  rmSync(store, { recursive: true, force: true });
  process.exit(stopping ? 0 : (code ?? 1));
});
process.on('SIGTERM', () => {
  stopping = true;
  server.kill('SIGTERM');
});
