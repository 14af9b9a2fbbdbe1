import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
export const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { errorOf } from '@harmonics/conformance';
