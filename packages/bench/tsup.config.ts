import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/cli.ts', 'src/load.ts', 'src/peer.ts', 'src/grpc-peer.ts', 'src/ws-peer.ts', 'src/flight-peer.ts', 'src/worker-peer.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  // The nats-server launcher of the conformance helpers is bundled in (the package has no build of its own).
  noExternal: ['@harmonics/conformance/nats-server'],
  external: [/^@harmonics\/(?!conformance\/nats-server$)/],
});
