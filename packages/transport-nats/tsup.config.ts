import { defineConfig } from 'tsup';

const external = [/^@harmonics\/(?!internal$)/, /^@nats-io\//];

export default defineConfig([
  {
    // Node: @nats-io/transport-node.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: false,
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: true,
    noExternal: ['@harmonics/internal'],
    external,
  },
  {
    // Browsers: wsconnect of @nats-io/nats-core; no Node built-ins.
    entry: { browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: false,
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    noExternal: ['@harmonics/internal'],
    external,
  },
  {
    entry: { index: 'src/index.ts', browser: 'src/browser.ts' },
    format: ['esm', 'cjs'],
    dts: { only: true, compilerOptions: { types: ['node'] } },
    noExternal: ['@harmonics/internal'],
    external,
  },
]);
