/**
 * Every benchmark reads its command line before it starts anything: `--help` prints its usage, an unknown option
 * prints what is wrong and the usage and exits 2 (a benchmark that ignored a mistyped option would run for minutes
 * with the wrong settings).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runNode } from '../helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BENCHES = readdirSync(path.join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();

const run = (name: string, arg: string) =>
  runNode(['--import', 'tsx', path.join(ROOT, 'bench', `${name}.ts`), arg], { cwd: ROOT });

/** Runs `task` over `items`, `limit` at a time. */
async function pooled<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

describe('the benchmarks’ command lines', () => {
  it('finds the benchmarks', () => {
    expect(BENCHES).toEqual(expect.arrayContaining(['audit', 'claimcheck', 'cpu', 'pipeline', 'table']));
  });

  it('print their usage with --help and exit 0', async () => {
    const results = await pooled(BENCHES, 3, (name) => run(name, '--help'));
    for (const [i, { code, stdout, stderr }] of results.entries()) {
      expect(code, `${BENCHES[i]}: ${stderr}`).toBe(0);
      expect(stdout, BENCHES[i]).toMatch(/^Usage: npm run (bench|chaos) -- /);
    }
  });

  it('refuse an unknown option with the usage and exit 2, before starting anything', async () => {
    const results = await pooled(BENCHES, 3, (name) => run(name, '--no-such-option'));
    for (const [i, { code, stderr }] of results.entries()) {
      expect(code, `${BENCHES[i]}: ${stderr}`).toBe(2);
      expect(stderr, BENCHES[i]).toMatch(/--no-such-option[\s\S]*Usage: /);
    }
  });
});
