/**
 * The bundles `npm run build` produces — what the container image ships — carry a real stream: `floe start --bundles`
 * runs every function from its bundle, and every record ends up on main exactly once. The bundles are built into a
 * temporary directory outside the repository, so, as in the image, nothing can fall back on node_modules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildFunctions } from '../../functions/build.ts';
import { FUNCTIONS } from '../../functions/registry.ts';
import { runFloe } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = await tempDir('floe-bundles');
const bundles = path.join(tmp.dir, 'bundles');
afterAll(() => tmp.cleanup());

beforeAll(async () => {
  await buildFunctions(FUNCTIONS, bundles);
}, 180_000);

interface Account {
  topic: string;
  sent: number;
  sentBad: number;
  trusted: number;
  untrusted: number;
  duplicates: number;
  missing: number;
}

/**
 * The accounting `--json` prints: the last JSON object on stdout (anything human-readable before it is skipped). It
 * holds counts and the seed, no 64-bit ids, so plain JSON.parse is exact.
 */
function accounting(stdout: string): { ok: boolean; topics: Account[] } {
  const text = stdout.trim();
  const start = text.startsWith('{') && !text.includes('\n{') ? 0 : text.lastIndexOf('\n{') + 1;
  return JSON.parse(text.slice(start)) as { ok: boolean; topics: Account[] };
}

interface LogLine {
  name?: string;
  pid?: number;
  entry?: string;
  msg?: string;
}

/** A function's log: the stack's line naming the entry of each process it started, then that process's own lines. */
async function functionLog(home: string, fn: string): Promise<LogLine[]> {
  const lines = (await readFile(path.join(home, 'logs', `${fn}.log`), 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'));
  return lines.map((l) => JSON.parse(l) as LogLine);
}

describe('floe start --bundles', () => {
  it('runs every function from its bundle and accounts for every record of a 20 s stream with 10% bad records', async () => {
    const home = path.join(tmp.dir, 'home');
    const result = await runFloe(
      [
        'start',
        '--bundles',
        bundles,
        '--home',
        home,
        '--duration',
        '20s',
        '--rate',
        '30',
        '--bad-fraction',
        '0.1',
        '--seed',
        '11',
        '--json',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      { timeoutMs: 240_000 },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);

    const summary = accounting(result.stdout);
    expect(summary.ok).toBe(true);
    expect(summary.topics.map((t) => t.topic).sort()).toEqual(['parking-entry', 'parking-exit', 'parking-sensors']);
    for (const topic of summary.topics) {
      expect(topic.sent).toBeGreaterThan(0);
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
      expect(topic.missing).toBe(0);
      expect(topic.duplicates).toBe(0);
      expect(topic.sentBad).toBeGreaterThan(0);
      // Bad records go to _untrusted and good ones never do; only a repeated event id whose original sits in a
      // concurrent batch can slip through as trusted, so untrusted may fall short of sentBad but never exceed it.
      expect(topic.untrusted).toBeGreaterThan(0);
      expect(topic.untrusted).toBeLessThanOrEqual(topic.sentBad);
    }

    // The code that ran: each function's process started from its bundle, never from the sources.
    expect(result.stderr).toContain(`functions  from the bundles in ${bundles}`);
    for (const fn of FUNCTIONS) {
      const log = await functionLog(home, fn);
      const started = log.filter((l) => l.name === 'floe-stack');
      expect(
        started.map((l) => l.entry),
        fn,
      ).toEqual([path.join(bundles, `${fn}.mjs`)]);
      // ... and the process the stack started from the bundle is the one that came up and served.
      expect(log.find((l) => l.name === fn && l.msg === `${fn} ready`)?.pid, fn).toBe(started[0].pid);
    }
    expect(result.stderr).not.toMatch(/exited unexpectedly/);
  }, 300_000);

  it('stops before starting anything when a bundle is missing, naming the file and `npm run build`', async () => {
    const empty = path.join(tmp.dir, 'no-bundles');
    const result = await runFloe(
      [
        'start',
        '--bundles',
        empty,
        '--home',
        path.join(tmp.dir, 'home-missing'),
        '--duration',
        '1s',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      { timeoutMs: 60_000 },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(path.join(empty, 'tagger.mjs'));
    expect(result.stderr).toContain('npm run build');
    expect(result.stderr).not.toContain('floe is up');
  });
});
