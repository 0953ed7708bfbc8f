/** `floe dashboard` as a real process: serves the API for the catalog the environment names, stops on SIGTERM. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFloe } from '../helpers/cli.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const FLOE = path.resolve(fileURLToPath(new URL('../../cli/floe.js', import.meta.url)));

let stack: TestStack;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stack = await startTestStack();
  env = {
    NESSIE_URI: stack.nessieUri,
    FLOE_WAREHOUSE: stack.env.warehouse,
    FLOE_LOG_LEVEL: 'warn',
    FLOE_LOG_FORMAT: 'json',
    FLOE_FUNCTION_URLS: '',
  };
});

afterAll(async () => {
  await stack?.stop();
});

describe('floe dashboard', () => {
  it('prints its URL, answers the API and health checks, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [FLOE, 'dashboard', '--port', '0'], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const match = /floe dashboard: (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]);
        });
        child.on('close', (code) =>
          reject(new Error(`floe dashboard exited ${code} before printing its URL: ${stderr}`)),
        );
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const tables = await fetch(new URL('/api/tables', url));
      expect(tables.status).toBe(200);
      expect(await tables.json()).toMatchObject({ ref: 'main', tables: [] });
      expect((await fetch(new URL('/healthz', url))).status).toBe(200);
      const functions = (await (await fetch(new URL('/api/functions', url))).json()) as { functions: unknown[] };
      expect(functions.functions).toEqual([]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses bad arguments with usage, and a bad FLOE_FUNCTION_URLS naming the variable', async () => {
    const [badPort, badFunction, badEnv, help] = await Promise.all([
      runFloe(['dashboard', '--port', 'eighty'], { env }),
      runFloe(['dashboard', '--function', 'writer=ftp://x'], { env }),
      runFloe(['dashboard'], { env: { ...env, FLOE_FUNCTION_URLS: 'writer' } }),
      runFloe(['dashboard', '--help'], { env }),
    ]);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--port expects an integer, got 'eighty'/);
    expect(badPort.stderr).toMatch(/Usage: floe dashboard/);
    expect(badFunction.code).toBe(2);
    expect(badFunction.stderr).toMatch(/--function: 'writer=ftp:\/\/x': only http and https URLs are scraped/);
    expect(badEnv.code).toBe(1);
    expect(badEnv.stderr).toMatch(/FLOE_FUNCTION_URLS: 'writer' is not NAME=URL/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--function NAME=URL/);
  });
});
