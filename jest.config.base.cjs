// Shared jest setup: ts-jest with the CommonJS transform (no VM modules), and
// workspace packages mapped to their sources so tests need no build.
const path = require('node:path');

// Suites that talk to foreign peers (Chromium, Python) are test/interop-*.spec.ts;
// HARMONICS_TESTS=unit (npm run test:unit) leaves them out.
const unitOnly = process.env.HARMONICS_TESTS === 'unit';

module.exports = function jestConfig(packageDir, overrides = {}) {
  return {
    rootDir: packageDir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/test/**/*.spec.ts'],
    testPathIgnorePatterns: ['/node_modules/', ...(unitOnly ? ['/test/interop-[^/]*\\.spec\\.ts$'] : [])],
    transform: {
      '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }],
    },
    moduleNameMapper: {
      // sources import siblings as './x.js' (ESM style); resolve them to './x.ts'
      '^(\\.{1,2}/.*)\\.js$': '$1',
      '^@harmonics/([a-z-]+)/internal$': path.join(__dirname, 'packages/$1/src/internal.ts'),
      '^@harmonics/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
    },
    testTimeout: 60000,
    ...overrides,
  };
};
