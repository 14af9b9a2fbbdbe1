import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { types: ['node'] } }, // no jest types: a faster declaration build
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  shims: true, // __filename in the ESM build (src/gate.ts)
  noExternal: ['@harmonics/internal'],
  external: [/^@harmonics\/(?!internal(\/|$))/],
});
