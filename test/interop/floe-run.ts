/**
 * The real `floe start` run every interop suite reads: the simulator at 40 records/s with 10% bad records for a
 * while, every function, the drain and the accounting, which must find every record on `main` exactly once.
 */
import { expect } from 'vitest';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { runFloe } from '../helpers/cli.ts';

/** One topic of the run's accounting (`floe start --json`). */
export interface Account {
  topic: string;
  sent: number;
  trusted: number;
  untrusted: number;
  duplicates: number;
  missing: number;
}

export interface FloeRun {
  /** `--home` */
  home: string;
  /** `--duration`, e.g. `6s` */
  duration: string;
  seed: number;
  /** The run's environment; without `NESSIE_URI` the stack starts its own Nessie on a free port. */
  env: Record<string, string>;
  timeoutMs: number;
}

/** Runs `floe start` and hands back its accounting, having checked that nothing is missing or doubled. */
export async function floeStart(run: FloeRun): Promise<Account[]> {
  const ports = ['--kafka-port', '0', '--broker-port', '0', '--dashboard-port', '0'];
  if (!run.env.NESSIE_URI) ports.push('--nessie-port', '0');
  const args = ['start', '--home', run.home, '--duration', run.duration, '--rate', '40', '--bad-fraction', '0.1'];
  const result = await runFloe([...args, '--seed', String(run.seed), '--json', ...ports], {
    env: run.env,
    timeoutMs: run.timeoutMs,
  });
  expect(result.code, result.stderr.slice(-3000)).toBe(0);
  const summary = parseJson<{ ok: boolean; topics: Account[] }>(result.stdout);
  expect(summary.ok, result.stdout).toBe(true);
  for (const topic of summary.topics) expect(topic.duplicates + topic.missing, topic.topic).toBe(0);
  return summary.topics;
}

/** Records per table as the run's accounting counted them, e.g. production.parking_entry_untrusted → 33. */
export function accountedRows(topics: Account[]): Map<string, number> {
  const accounted = new Map<string, number>();
  for (const topic of topics) {
    const table = `production.${topic.topic.replace(/-/g, '_')}`;
    accounted.set(table, topic.trusted);
    accounted.set(`${table}_untrusted`, topic.untrusted);
  }
  return accounted;
}
