import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { types: [] } }, // browser-safe: no Node or jest types
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  clean: true,
  noExternal: ['@harmonics/internal'],
  external: [/^@harmonics\/(?!internal$)/, 'fflate'],
});
