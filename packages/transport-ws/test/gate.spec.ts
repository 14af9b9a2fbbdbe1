// The fast paths run only on the ws versions they were tested with (DESIGN §11; the gate itself is tested in transport-grpc).
import { FAST_PATH_TESTED } from '@harmonics/internal/node';
import { GATE } from '../src/gate';

it('the installed ws is one the fast paths were tested with (else: run npm run test:latest, then widen FAST_PATH_TESTED)', () => {
  expect(GATE.version).toMatch(/^\d+\.\d+\.\d+/);
  expect({ version: GATE.version, tested: GATE.tested, range: FAST_PATH_TESTED['ws'] }).toEqual({
    version: GATE.version,
    tested: true,
    range: FAST_PATH_TESTED['ws'],
  });
});
