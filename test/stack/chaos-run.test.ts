/**
 * `npm run chaos -- --rounds 6 --seed 7`, the short crash run CI repeats: a function process, Nessie, Kafka and the
 * whole stack are each SIGKILLed at least once (each runs as its own process), and afterwards every record the
 * simulator got acknowledged is on main exactly once.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runNode } from '../helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Summary {
  ok: boolean;
  drained: boolean;
  records: number;
  kills: { total: number; perKind: Record<'function' | 'nessie' | 'kafka' | 'stack', number> };
  topics: {
    topic: string;
    sent: number;
    trusted: number;
    untrusted: number;
    duplicates: number;
    missing: number;
    deadLettered: number;
  }[];
}

const run = (args: string[]) =>
  runNode(['--import', 'tsx', path.join(ROOT, 'bench', 'chaos.ts'), ...args], { cwd: ROOT, timeoutMs: 400_000 });

describe('npm run chaos', () => {
  it('explains itself with --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--seed S/);
    expect(stdout).toMatch(/--rounds N/);
  });

  it('survives a SIGKILL of a function, Nessie, Kafka and the whole stack with every record on main exactly once', async () => {
    const { code, stdout, stderr } = await run(['--rounds', '6', '--seed', '7', '--json']);
    expect(code, stderr).toBe(0);
    const summary = parseJson<Summary>(stdout.trim());
    for (const kind of ['function', 'nessie', 'kafka', 'stack'] as const)
      expect(summary.kills.perKind[kind], kind).toBeGreaterThanOrEqual(1);
    expect(summary.kills.total).toBe(6);
    expect(summary.ok).toBe(true);
    expect(summary.drained).toBe(true);
    expect(summary.records).toBeGreaterThan(1000);
    for (const topic of summary.topics) {
      expect(topic, topic.topic).toMatchObject({ missing: 0, duplicates: 0, deadLettered: 0 });
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
    }
    expect(stderr).toMatch(/kills survived: 6/);
  }, 420_000);
});
