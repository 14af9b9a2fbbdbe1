// Shared jest setup: ts-jest with the CommonJS transform (no VM modules), and
// workspace packages mapped to their sources so tests need no build.
const path = require('node:path');

// Suites that talk to foreign peers (Chromium, Python) are test/interop-*.spec.ts;
// HARMONICS_TESTS=unit (npm run test:unit) leaves them out.
const unitOnly = process.env.HARMONICS_TESTS === 'unit';

// HARMONICS_TEST_DIST=cjs: the pass over what users install. The published
// packages resolve to their built CommonJS dist (dist/index.cjs, which bundles
// @harmonics/internal), and only the conformance and foreign-peer suites run:
// they use nothing but the public API. Private packages stay on their sources.
// @harmonics/url has no such pass: its dist loads transports with import(),
// which jest's CommonJS runtime cannot run (ERR_VM_DYNAMIC_IMPORT_CALLBACK_
// MISSING_FLAG); the README blocks (examples/readmes) and the demo run it
// from its built ESM under plain Node instead.
const distPass = process.env.HARMONICS_TEST_DIST === 'cjs';
const { existsSync, readdirSync } = require('node:fs');
// Published libraries: public packages with a main entry (not @harmonics/cli, which is only a command).
const published = readdirSync(path.join(__dirname, 'packages')).filter((name) => {
  try {
    const pkg = require(path.join(__dirname, 'packages', name, 'package.json'));
    return !pkg.private && pkg.exports?.['.'] !== undefined;
  } catch {
    return false;
  }
});

function distMappings() {
  const map = {};
  for (const name of published) {
    const dist = path.join(__dirname, 'packages', name, 'dist', 'index.cjs');
    if (!existsSync(dist)) throw new Error(`HARMONICS_TEST_DIST=cjs: ${dist} is missing; run npm run build first`);
    map[`^@harmonics/${name}$`] = dist;
  }
  return map;
}

// A test that times out while a socket, a grpc-js channel or a child process is
// still open would keep jest alive after the run (it waits for open handles),
// and CI would wait out its time limit. Exit once the results are written:
// the timed-out test has failed already. (Jest then prints "Force exiting
// Jest" for every package, leak or not; `npx jest --detectOpenHandles
// --forceExit=false` finds a leak.)
const forceExit = true;

module.exports = function jestConfig(packageDir, overrides = {}) {
  if (distPass) {
    return {
      rootDir: packageDir,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/conformance.spec.ts', '<rootDir>/test/interop-*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...(unitOnly ? ['/test/interop-[^/]*\\.spec\\.ts$'] : [])],
      transform: {
        '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }],
      },
      moduleNameMapper: {
        ...distMappings(),
        '^(\\.{1,2}/.*)\\.js$': '$1',
        '^@harmonics/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
      },
      testTimeout: 60000,
      forceExit,
      ...overrides,
    };
  }
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
      '^@harmonics/internal/node$': path.join(__dirname, 'packages/internal/src/node.ts'),
      '^@harmonics/([a-z-]+)/internal$': path.join(__dirname, 'packages/$1/src/internal.ts'),
      '^@harmonics/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
    },
    testTimeout: 60000,
    forceExit,
    ...overrides,
  };
};
