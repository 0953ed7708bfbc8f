/**
 * `floe simulate`: argument validation (usage errors), the JSON and the readable report, status lines on stderr, and
 * Ctrl-C — a real SIGINT to a child process — which stops producing and still prints a report that matches Kafka.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommandArgs, usage, UsageError, type ParsedArgs } from '../../cli/command.ts';
import { command } from '../../cli/commands/simulate.ts';
import { acknowledgedCoordinates, type SimulationReport } from '../../local/simulator/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startTestBroker, type TestBroker } from '../kafka/helpers/broker.ts';
import { consumeAll } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker({ defaultPartitions: 2 });
});

afterAll(async () => {
  await t?.cleanup();
});

afterEach(() => {
  vi.restoreAllMocks();
});

function args(...argv: string[]): ParsedArgs {
  const parsed = parseCommandArgs(command, argv);
  if (parsed === 'help') throw new Error('unexpected --help');
  return parsed;
}

/** Runs the command in this process, capturing what it writes to stdout and stderr. */
async function runCaptured(...argv: string[]): Promise<{ code: number | void; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation(
    (chunk: string | Uint8Array) => ((stdout += String(chunk)), true),
  );
  vi.spyOn(process.stderr, 'write').mockImplementation(
    (chunk: string | Uint8Array) => ((stderr += String(chunk)), true),
  );
  try {
    const code = await command.run(args(...argv));
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('floe simulate arguments', () => {
  it('has --help listing every option', () => {
    expect(parseCommandArgs(command, ['--help'])).toBe('help');
    const text = usage(command);
    for (const option of [
      '--brokers',
      '--rate',
      '--duration',
      '--count',
      '--seed',
      '--bad-fraction',
      '--topic-prefix',
      '--partitions',
      '--json',
    ])
      expect(text).toContain(option);
  });

  it.each([
    [['--rate', '0'], /--rate must be more than 0/],
    [['--rate', 'fast'], /--rate expects a number/],
    [['--bad-fraction', '1.5'], /--bad-fraction must be at most 1/],
    [['--bad-fraction=-0.1'], /--bad-fraction must be at least 0/],
    [['--brokers', 'localhost'], /--brokers expects host:port/],
    [['--brokers', '127.0.0.1:9092,:9093'], /--brokers expects host:port/],
    [['--brokers', 'kafka:70000'], /--brokers expects host:port/],
    [['--duration', 'soon'], /--duration expects a duration/],
    [['--duration', '0s'], /--duration must be longer than 0/],
    [['--count', '0'], /--count must be at least 1/],
    [['--count', '2.5'], /--count expects an integer/],
    [['--seed=-1'], /--seed must be at least 0/],
    [['--seed', '4294967296'], /--seed must be at most 4294967295/],
    [['--topic-prefix', 'a b/'], /--topic-prefix may only use/],
    [['--partitions', '0'], /--partitions must be at least 1/],
    [['--status-interval', '0'], /--status-interval must be longer than 0/],
  ])('%j is a usage error', async (argv, message) => {
    // Were the argument accepted, the run would stay short and local.
    const safe = [
      ...(argv.includes('--count') ? [] : ['--count', '1']),
      ...(argv.includes('--brokers') ? [] : ['--brokers', t.broker.brokers]),
    ];
    const run = command.run(args(...argv, ...safe));
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(message);
  });

  it('rejects unknown options as usage errors', () => {
    expect(() => parseCommandArgs(command, ['--speed', '3'])).toThrow(UsageError);
  });
});

describe('floe simulate against the embedded broker', () => {
  it('--json prints the final report as one JSON line with 64-bit-safe offsets', async () => {
    const { code, stdout } = await runCaptured(
      '--brokers',
      t.broker.brokers,
      '--count',
      '120',
      '--rate',
      '2000',
      '--seed',
      '5',
      '--topic-prefix',
      'json-',
      '--json',
    );
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = parseJson<SimulationReport>(lines[0]);
    expect(report).toMatchObject({ seed: 5, sent: 120, stoppedBy: 'count', rate: 2000 });
    expect(report.topics.entry.topic).toBe('json-parking-entry');
    // The default bad fraction of the command is 5%.
    expect(report.bad).toBeGreaterThan(0);
    const consumed = await consumeAll(
      t.kafka,
      ['json-parking-entry', 'json-parking-exit', 'json-parking-sensors'],
      120,
    );
    expect(consumed).toHaveLength(120);
    const offsets = acknowledgedCoordinates(report)
      .map((c) => `${c.topic}/${c.partition}/${Number(c.offset)}`)
      .sort();
    expect(consumed.map((c) => `${c.topic}/${c.partition}/${c.offset}`).sort()).toEqual(offsets);
  });

  it('prints a readable report, status lines go to stderr', async () => {
    const { code, stdout, stderr } = await runCaptured(
      '--brokers',
      t.broker.brokers,
      '--duration',
      '700ms',
      '--rate',
      '100',
      '--topic-prefix',
      'text-',
      '--bad-fraction',
      '0',
      '--status-interval',
      '200ms',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^sent \d+ events \(0 bad\) in \d+\.\ds/);
    expect(stdout).toContain('stopped by duration');
    for (const topic of ['text-parking-entry', 'text-parking-exit', 'text-parking-sensors'])
      expect(stdout).toContain(topic);
    expect(stdout).toMatch(/text-parking-entry +\d: 0\.\.\d+/);
    expect(stderr).toMatch(/simulate: \d+\.\ds sent \d+ \(bad 0\), \d+\.\d\/s/);
  });

  it('Ctrl-C stops producing and still prints the report, which matches what Kafka has', async () => {
    const script = [
      "const { parseCommandArgs } = await import('./cli/command.ts');",
      "const { command } = await import('./cli/commands/simulate.ts');",
      'process.exitCode = await command.run(parseCommandArgs(command, process.argv.slice(1)));',
    ].join('\n');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        '--',
        '--brokers',
        t.broker.brokers,
        '--rate',
        '300',
        '--topic-prefix',
        'sigint-',
        '--status-interval',
        '100ms',
        '--json',
      ],
      { cwd: ROOT, env: { ...process.env, FLOE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /sent [1-9]\d* /.test(stderr), 'a status line with records sent');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const report = parseJson<SimulationReport>(stdout.trim());
    expect(report.stoppedBy).toBe('signal');
    expect(report.sent).toBeGreaterThan(0);
    expect(stderr).toContain('stopping');
    const consumed = await consumeAll(
      t.kafka,
      ['sigint-parking-entry', 'sigint-parking-exit', 'sigint-parking-sensors'],
      report.sent,
    );
    expect(consumed).toHaveLength(report.sent);
  });
});
