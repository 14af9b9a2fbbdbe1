import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isHarmonicsError } from '@harmonics/core';

export const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
export const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));

export async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string } | undefined> {
  try {
    await p;
  } catch (err) {
    if (isHarmonicsError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
