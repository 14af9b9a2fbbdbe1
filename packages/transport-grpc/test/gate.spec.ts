// The version gate of the fast paths (DESIGN §11): they run only on the ws and grpc-js versions they were tested with.
import { FAST_PATH_TESTED, type VersionGate, fastPathsOn, versionGate, versionInRange } from '@harmonics/internal/node';
import { GATE } from '../src/gate';

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.HARMONICS_FAST_PATHS;
  if (value === undefined) delete process.env.HARMONICS_FAST_PATHS;
  else process.env.HARMONICS_FAST_PATHS = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.HARMONICS_FAST_PATHS;
    else process.env.HARMONICS_FAST_PATHS = saved;
  }
}

describe('fast-path version gate', () => {
  it('versionInRange takes [from, below), numerically, and refuses pre-releases and junk', () => {
    const r = ['1.14.7', '1.15.0'] as const;
    expect(versionInRange('1.14.7', r)).toBe(true);
    expect(versionInRange('1.14.10', r)).toBe(true);
    expect(versionInRange('1.14.6', r)).toBe(false);
    expect(versionInRange('1.15.0', r)).toBe(false);
    expect(versionInRange('1.9.99', r)).toBe(false);
    expect(versionInRange('1.14.8-pre.1', r)).toBe(false);
    expect(versionInRange('', r)).toBe(false);
  });

  it('versionGate reads the version through the given require; an unreadable package.json is untested', () => {
    const asked: string[] = [];
    const gate = versionGate('ws', (id) => {
      asked.push(id);
      return { version: FAST_PATH_TESTED.ws[0] };
    });
    expect(asked).toEqual(['ws/package.json']);
    expect(gate).toEqual({ name: 'ws', version: FAST_PATH_TESTED.ws[0], tested: true });
    expect(versionGate('ws', () => ({ version: FAST_PATH_TESTED.ws[1] })).tested).toBe(false);
    const missing = versionGate('@grpc/grpc-js', () => {
      throw new Error('Cannot find module');
    });
    expect(missing).toEqual({ name: '@grpc/grpc-js', version: undefined, tested: false });
  });

  it(`the installed @grpc/grpc-js is one the fast paths were tested with (else: run npm run test:latest, then widen FAST_PATH_TESTED)`, () => {
    expect(GATE.version).toMatch(/^\d+\.\d+\.\d+/);
    expect({ version: GATE.version, tested: GATE.tested, range: FAST_PATH_TESTED['@grpc/grpc-js'] }).toEqual({
      version: GATE.version,
      tested: true,
      range: FAST_PATH_TESTED['@grpc/grpc-js'],
    });
  });

  it('fastPathsOn: the option, then HARMONICS_FAST_PATHS; an untested version is off unless the environment says force', () => {
    const tested: VersionGate = { name: 'ws', version: '8.23.0', tested: true };
    const untested: VersionGate = { name: 'ws', version: '9.0.0', tested: false };
    withEnv(undefined, () => {
      expect(fastPathsOn(undefined, tested)).toBe(true);
      expect(fastPathsOn(false, tested)).toBe(false);
      expect(fastPathsOn(true, untested)).toBe(false);
      expect(fastPathsOn(undefined, untested)).toBe(false);
    });
    for (const off of ['0', 'false', 'OFF', ' off ']) {
      withEnv(off, () => {
        expect(fastPathsOn(undefined, tested)).toBe(false);
        expect(fastPathsOn(true, tested)).toBe(true); // the option wins over the environment
      });
    }
    withEnv('force', () => {
      expect(fastPathsOn(undefined, untested)).toBe(true);
      expect(fastPathsOn(true, untested)).toBe(true);
      expect(fastPathsOn(false, untested)).toBe(false);
    });
  });
});
