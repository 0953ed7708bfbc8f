/**
 * `npm run chaos -- --seed S --rounds N`: the local stack under crashes a user or CI can repeat. Every part runs as its
 * own process — the Kafka broker (`floe kafka`), the catalog (`floe nessie`), the stack (`floe start --idle`, which
 * supervises the functions) and, each round, the simulator (`floe simulate`) — so each can be SIGKILLed from outside.
 * Each round the simulator produces for a while and, at a moment drawn from a PRNG seeded with --seed, one part is
 * killed: a function process (the stack restarts it), Nessie or Kafka (restarted here on the same port and data, as
 * the infrastructure would be), or the whole stack (started again on the same FLOE_HOME, where it resumes).
 *
 * The end is the accounting `floe start` does (`local/stack/accounting.ts`): the stack is started once more, drained,
 * its dead letters replayed, and every record any simulator round got acknowledged must be on main exactly once —
 * counted against the simulators' own reports, which outlive every stack that consumed them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../shared/runtime/logger.ts';
import { parseJson, stringifyJson, toLong } from '../shared/util/lossless-json.ts';
import { accountRun, type Accounting } from '../local/stack/accounting.ts';
import { NotIdleError, startStack } from '../local/stack/index.ts';
import { freePort } from '../local/stack/processes.ts';
import { createRandom, type Random } from '../local/simulator/random.ts';
import { TOPIC_ROLES } from '../local/simulator/events.ts';
import type { OffsetRange, SimulationReport, TopicReport } from '../local/simulator/report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLOE = path.join(ROOT, 'cli', 'floe.js');
const CONFIG = path.join(ROOT, 'knative', 'config', 'pipeline.yaml');

const HELP = `Usage: npm run chaos -- [options]

Runs the local stack with the simulator and SIGKILLs its processes at seeded random moments: the function processes,
the catalog (Nessie), the Kafka broker and the whole stack. Then drains, replays dead letters and checks that every
record the simulator got acknowledged is on main exactly once. Exits 1 if a record is missing or doubled. Linux only
(function processes are found in /proc).

Options:
  --seed S             PRNG seed for the kill schedule and the simulator (default 1)
  --rounds N           rounds, one kill each (default 6); the first four kill a function, Nessie, Kafka and the
                       stack in a seeded order, later ones a seeded choice (functions killed least go first)
  --round-duration D   seconds the simulator produces each round (default 10)
  --rate N             simulated events per second (default 40)
  --drain-timeout D    seconds the final drain may take (default 240)
  --home DIR           FLOE_HOME (default: a new temporary directory, removed afterwards unless --keep)
  --keep               keep the temporary FLOE_HOME (its logs/ hold every process's log)
  --json               print one JSON summary on stdout (the progress goes to stderr)
  -h, --help           this text

Example: npm run chaos -- --seed 7 --rounds 6 --json`;

type Kind = 'function' | 'nessie' | 'kafka' | 'stack';
const KINDS: Kind[] = ['function', 'nessie', 'kafka', 'stack'];

interface Options {
  seed: number;
  rounds: number;
  roundMs: number;
  rate: number;
  drainMs: number;
  home?: string;
  keep: boolean;
  json: boolean;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      rounds: { type: 'string' },
      'round-duration': { type: 'string' },
      rate: { type: 'string' },
      'drain-timeout': { type: 'string' },
      home: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const number = (name: keyof typeof values, fallback: number, min: number, max: number, integer = true): number => {
    const text = values[name];
    if (text === undefined) return fallback;
    const n = Number(text);
    if (
      typeof text !== 'string' ||
      text.trim() === '' ||
      !Number.isFinite(n) ||
      (integer && !Number.isInteger(n)) ||
      n < min ||
      n > max
    ) {
      throw new Error(
        `--${name} expects ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got '${String(text)}'`,
      );
    }
    return n;
  };
  return {
    seed: number('seed', 1, 0, 2 ** 32 - 1),
    rounds: number('rounds', 6, 1, 10_000),
    roundMs: number('round-duration', 10, 2, 3600, false) * 1000,
    rate: number('rate', 40, 1, 10_000, false),
    drainMs: number('drain-timeout', 240, 10, 24 * 3600, false) * 1000,
    home: values.home,
    keep: values.keep === true,
    json: values.json === true,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A `floe` subcommand run as a child, its output appended to `<home>/logs/chaos-<name>.log`. */
class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stdout = '';
  expectedExit = false;

  constructor(
    readonly name: string,
    args: string[],
    logDir: string,
    env: NodeJS.ProcessEnv,
    onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
  ) {
    const log: WriteStream = createWriteStream(path.join(logDir, `chaos-${name}.log`), { flags: 'a' });
    this.process = spawn(process.execPath, [FLOE, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    log.write(`--- pid ${this.process.pid}: floe ${args.join(' ')}\n`);
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.process[stream]! }).on('line', (line) => {
        if (stream === 'stdout') this.stdout += `${line}\n`;
        log.write(`${line}\n`);
        onLine?.(line, stream);
      });
    }
    this.exited = new Promise((resolve) =>
      this.process.once('exit', (code, signal) => {
        // Lines still buffered in readline arrive before the next turn.
        setImmediate(() => {
          log.end();
          resolve({ code, signal });
        });
      }),
    );
  }

  get pid(): number {
    return this.process.pid!;
  }

  output(): string {
    return this.stdout;
  }

  /** A SIGTERM that has not ended the process within `graceMs` becomes a SIGKILL. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 15_000): Promise<void> {
    this.expectedExit = true;
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts a child and resolves once one of its lines passes `ready`; fails when it exits first or takes too long. */
async function startChild(
  name: string,
  args: string[],
  logDir: string,
  env: NodeJS.ProcessEnv,
  ready: (line: string) => boolean,
  timeoutMs = 120_000,
): Promise<Child> {
  let markReady!: () => void;
  const isReady = new Promise<void>((resolve) => (markReady = resolve));
  const child = new Child(name, args, logDir, env, (line) => {
    if (ready(line)) markReady();
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    isReady.then(() => 'ready' as const),
    child.exited.then(({ code, signal }) => `exited (code ${code}, signal ${signal}) before it was ready`),
    new Promise<string>(
      (resolve) => (timer = setTimeout(() => resolve(`not ready within ${timeoutMs} ms`), timeoutMs)),
    ),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    await child.kill();
    throw new Error(`${name} ${outcome}; see ${path.join(logDir, `chaos-${name}.log`)}`);
  }
  return child;
}

/** The function processes of a stack: its children, named by the FLOE_FUNCTION their environment carries. */
function functionProcesses(stackPid: number): Map<string, number> {
  const found = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (2nd field) may hold spaces and parentheses: the fields after its last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== stackPid) continue;
      const name = readFileSync(`/proc/${entry}/environ`, 'utf8')
        .split('\0')
        .find((v) => v.startsWith('FLOE_FUNCTION='));
      if (name) found.set(name.slice('FLOE_FUNCTION='.length), Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** One report for all rounds: per topic the acknowledged counts added up and the offset ranges side by side. */
function mergeReports(reports: SimulationReport[], seed: number): SimulationReport {
  const topics = Object.fromEntries(
    TOPIC_ROLES.map((role) => {
      const parts = reports.map((r) => r.topics[role]);
      const byPartition = new Map<number, OffsetRange[]>();
      for (const part of parts)
        for (const { partition, ranges } of part.partitions)
          byPartition.set(partition, [...(byPartition.get(partition) ?? []), ...ranges]);
      const byKind = { ...parts[0].bad.byKind };
      for (const part of parts.slice(1))
        for (const [kind, n] of Object.entries(part.bad.byKind)) byKind[kind as keyof typeof byKind] += n;
      const topic: TopicReport = {
        topic: parts[0].topic,
        sent: parts.reduce((n, p) => n + p.sent, 0),
        bad: { total: parts.reduce((n, p) => n + p.bad.total, 0), byKind },
        partitions: [...byPartition.entries()]
          .sort(([a], [b]) => a - b)
          .map(([partition, ranges]) => ({ partition, ranges })),
      };
      return [role, topic];
    }),
  ) as SimulationReport['topics'];
  return {
    seed,
    brokers: reports[0].brokers,
    rate: reports[0].rate,
    startedAt: reports[0].startedAt,
    elapsedMs: reports.reduce((n, r) => n + r.elapsedMs, 0),
    sent: reports.reduce((n, r) => n + r.sent, 0),
    bad: reports.reduce((n, r) => n + r.bad, 0),
    unconfirmed: reports.reduce((n, r) => n + r.unconfirmed, 0),
    topics,
  };
}

/** A `floe simulate --json` report with its offsets as bigint, whatever their size. */
function readReport(text: string): SimulationReport {
  const report = parseJson<SimulationReport>(text.trim().split('\n').pop()!);
  for (const role of TOPIC_ROLES) {
    for (const p of report.topics[role].partitions)
      p.ranges = p.ranges.map(([first, last]) => [toLong(first, 'offset'), toLong(last, 'offset')]);
  }
  return report;
}

interface Kill {
  round: number;
  target: string;
  kind: Kind;
  pid: number;
  atMs: number;
  backMs: number;
}

async function main(options: Options): Promise<number> {
  const say = (text: string) => (options.json ? process.stderr : process.stdout).write(`${text}\n`);
  const temporary = options.home === undefined;
  const home = path.resolve(options.home ?? (await mkdtemp(path.join(tmpdir(), 'floe-chaos-'))));
  const logDir = path.join(home, 'logs');
  mkdirSync(logDir, { recursive: true });
  const random: Random = createRandom(options.seed);
  const started = Date.now();
  say(
    `chaos: seed ${options.seed}, ${options.rounds} round(s) of ${options.roundMs / 1000} s at ${options.rate} events/s, FLOE_HOME ${home}`,
  );

  const [kafkaPort, nessiePort] = [await freePort(), await freePort()];
  const kafkaBrokers = `127.0.0.1:${kafkaPort}`;
  const nessieUri = `http://127.0.0.1:${nessiePort}/api`;
  const env = { FLOE_HOME: home, KAFKA_BROKERS: kafkaBrokers, NESSIE_URI: nessieUri, FLOE_CONFIG: CONFIG };
  const startKafka = () =>
    startChild(
      'kafka',
      ['kafka', '--port', String(kafkaPort), '--data', path.join(home, 'kafka'), '--partitions', '3'],
      logDir,
      env,
      (l) => l.includes('listening on'),
    );
  const startNessie = () =>
    startChild(
      'nessie',
      ['nessie', '--port', String(nessiePort), '--data', path.join(home, 'nessie')],
      logDir,
      env,
      (l) => l.startsWith('http://'),
    );
  // `--idle`: the simulator runs apart, so what it sent is known across stack restarts. A short drain on SIGTERM:
  // the final drain is this runner's.
  const startFloe = () =>
    startChild(
      'stack',
      ['start', '--idle', '--home', home, '--broker-port', '0', '--dashboard-port', '0', '--drain-timeout', '5s'],
      logDir,
      env,
      (l) => l.includes('floe is up'),
      180_000,
    );

  const infra: Record<'kafka' | 'nessie' | 'stack', Child | undefined> = {
    kafka: undefined,
    nessie: undefined,
    stack: undefined,
  };
  const kills: Kill[] = [];
  const reports: SimulationReport[] = [];
  let simulator: Child | undefined;
  try {
    infra.kafka = await startKafka();
    infra.nessie = await startNessie();
    infra.stack = await startFloe();
    const functions = [...functionProcesses(infra.stack.pid).keys()].sort();
    if (functions.length === 0) throw new Error(`found no function processes under the stack (pid ${infra.stack.pid})`);
    say(
      `up in ${((Date.now() - started) / 1000).toFixed(1)} s: kafka ${kafkaBrokers}, nessie ${nessieUri}, functions ${functions.join(', ')}`,
    );
    const killed = new Map<string, number>();
    const firstKinds = [...KINDS];
    for (let i = firstKinds.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [firstKinds[i], firstKinds[j]] = [firstKinds[j], firstKinds[i]];
    }

    for (let round = 1; round <= options.rounds; round++) {
      const kind: Kind = round <= firstKinds.length ? firstKinds[round - 1] : random.pick(KINDS);
      let target: string = kind;
      if (kind === 'function') {
        const least = Math.min(...functions.map((f) => killed.get(f) ?? 0));
        target = random.pick(functions.filter((f) => (killed.get(f) ?? 0) === least));
      }
      const atMs = Math.round(options.roundMs * (0.2 + 0.6 * random.next()));
      const downMs = Math.round(1500 * random.next());
      const roundStart = Date.now();
      simulator = new Child(
        'simulate',
        [
          'simulate',
          '--brokers',
          kafkaBrokers,
          '--duration',
          `${options.roundMs}ms`,
          '--rate',
          String(options.rate),
          '--seed',
          String((options.seed + round) % 2 ** 32),
          '--bad-fraction',
          '0.05',
          '--status-interval',
          '60s',
          '--json',
        ],
        logDir,
        env,
      );
      await sleep(atMs);
      let pid: number;
      const killedAt = Date.now();
      if (kind === 'function') {
        const before = functionProcesses(infra.stack!.pid).get(target);
        if (before === undefined)
          throw new Error(`function ${target} is not running under the stack (pid ${infra.stack!.pid})`);
        pid = before;
        process.kill(pid, 'SIGKILL');
        // Back when the stack's supervision has started a new process for it.
        for (;;) {
          const now = functionProcesses(infra.stack!.pid).get(target);
          if (now !== undefined && now !== pid) break;
          if (Date.now() - killedAt > 120_000) throw new Error(`the stack did not restart ${target} within 120 s`);
          await sleep(100);
        }
      } else {
        const child = infra[kind]!;
        pid = child.pid;
        await child.kill('SIGKILL');
        infra[kind] = undefined;
        await sleep(downMs);
        infra[kind] = await (kind === 'kafka' ? startKafka() : kind === 'nessie' ? startNessie() : startFloe());
      }
      const backMs = Date.now() - killedAt;
      killed.set(target, (killed.get(target) ?? 0) + 1);
      kills.push({ round, target, kind, pid, atMs, backMs });
      const { code } = await simulator.exited;
      const report = readReport(simulator.output());
      if (code !== 0)
        say(
          `  the simulator of round ${round} stopped early (exit ${code}); its ${report.sent} acknowledged record(s) count, ${report.unconfirmed} unconfirmed do not`,
        );
      reports.push(report);
      simulator = undefined;
      say(
        `round ${round}/${options.rounds}: killed ${target} (pid ${pid}) at ${(atMs / 1000).toFixed(1)} s, back after ${(backMs / 1000).toFixed(1)} s; ${report.sent} record(s) sent (${((Date.now() - roundStart) / 1000).toFixed(1)} s)`,
      );
      for (const [name, child] of Object.entries(infra)) {
        if (child && (child.process.exitCode !== null || child.process.signalCode !== null))
          throw new Error(
            `${name} exited on its own (code ${child.process.exitCode}, signal ${child.process.signalCode}); see ${logDir}/chaos-${name}.log`,
          );
      }
    }

    // The final accounting, as `floe start` does it, on a stack started once more on the same home; the last stack
    // goes the way of the others (what it held resumes there).
    await infra.stack?.kill('SIGKILL');
    infra.stack = undefined;
    say(`draining (at most ${options.drainMs / 1000} s) …`);
    const logger = createLogger({
      name: 'chaos',
      destination: createWriteStream(path.join(logDir, 'chaos-final.log'), { flags: 'a' }),
      format: 'json',
    });
    const stack = await startStack({
      home,
      logger,
      configFile: CONFIG,
      dashboard: false,
      external: { kafkaBrokers: [kafkaBrokers], nessieUri },
    });
    let accounting: Accounting;
    let drained = true;
    let replayed = 0;
    try {
      const deadline = Date.now() + options.drainMs;
      const drain = async () => {
        try {
          await stack.waitIdle({ timeoutMs: Math.max(1000, deadline - Date.now()) });
          return true;
        } catch (err) {
          if (err instanceof NotIdleError) return false;
          throw err;
        }
      };
      drained = await drain();
      if (drained) {
        const replay = await stack.replayDeadLetters();
        replayed = replay.replayed.length;
        if (replayed) {
          say(`replayed ${replayed} dead-lettered event(s); draining …`);
          drained = await drain();
        }
      }
      const sent = mergeReports(reports, options.seed);
      accounting = await accountRun(
        stack.catalog,
        stack.env.pipeline,
        sent,
        drained ? undefined : await stack.whereabouts(),
      );
    } finally {
      await stack.stop();
    }

    const perComponent: Record<string, number> = {};
    for (const kill of kills) perComponent[kill.target] = (perComponent[kill.target] ?? 0) + 1;
    const perKind = Object.fromEntries(KINDS.map((k) => [k, kills.filter((kill) => kill.kind === k).length]));
    const records = reports.reduce((n, r) => n + r.sent, 0);
    const durationMs = Date.now() - started;
    const ok = accounting.ok && drained;
    say('');
    say(
      `kills survived: ${kills.length} (${Object.entries(perComponent)
        .sort()
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')})`,
    );
    const header = ['topic', 'sent', 'trusted', 'untrusted', 'duplicates', 'dead-lettered', 'missing'];
    const rows = accounting.topics.map((t) =>
      [t.topic, t.sent, t.trusted, t.untrusted, t.duplicates, t.deadLettered + t.onBranches + t.inKafka, t.missing].map(
        String,
      ),
    );
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const row of [header, ...rows])
      say(row.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '));
    say(
      `${records} record(s), ${replayed} dead letter(s) replayed, ${(durationMs / 1000).toFixed(0)} s: ${ok ? 'every record is on main exactly once' : accounting.accounted ? 'NOT DRAINED (nothing missing or doubled yet)' : 'RECORDS MISSING OR DUPLICATED'}`,
    );
    if (options.json) {
      process.stdout.write(
        `${stringifyJson({
          ok,
          accounted: accounting.accounted,
          drained,
          seed: options.seed,
          rounds: options.rounds,
          records,
          unconfirmed: reports.reduce((n, r) => n + r.unconfirmed, 0),
          durationMs,
          deadLettersReplayed: replayed,
          kills: { total: kills.length, perKind, perComponent, log: kills },
          topics: accounting.topics,
        })}\n`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await simulator?.kill();
    for (const name of ['stack', 'nessie', 'kafka'] as const) await infra[name]?.kill('SIGTERM');
    if (temporary && !options.keep) await rm(home, { recursive: true, force: true });
  }
}

let options: Options | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`chaos: ${(err as Error).message}\n\n${HELP}\n`);
  process.exit(2);
}
if (!options) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
process.exitCode = await main(options).catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
