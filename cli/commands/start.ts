/**
 * `floe start` (what `npm start` runs) — the whole pipeline on this machine with a simulated parking lot feeding it.
 * With `--duration` it produces for that long, drains every batch, prints the accounting per topic and exits
 * non-zero if any record is missing or doubled: the smoke test users and CI run.
 */
import path from 'node:path';
import { durationOption, intOption, numberOption, stringOption, type Command } from '../command.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { accountRun, type Accounting } from '../../local/stack/accounting.ts';
import {
  externalFromEnv,
  NotIdleError,
  startStack,
  type RunningStack,
  type StackStatus,
} from '../../local/stack/index.ts';
import { simulate, SimulationError, type SimulationReport } from '../../local/simulator/index.ts';
import { DEFAULT_PIPELINE_CONFIG, floeHome, LOCAL_PORTS } from '../local-env.ts';

/** One status line; anything dead-lettered leads it as an alarm (it left the flow: "0 in flight" would hide it). */
export function statusLine(seconds: number, produced: number, bad: number, status: StackStatus): string {
  return (
    `[${String(seconds).padStart(4)}s] ` +
    (status.deadLettered ? `⚠ DEAD-LETTERED ${status.deadLettered} · ` : '') +
    `produced ${produced} (${bad} bad) · on main ${status.trusted} trusted, ${status.untrusted} untrusted` +
    ` · lag ${status.lag} · in flight ${status.inFlight} · open branches ${status.openBranches}` +
    (status.keptBranches ? ` · rejected batches ${status.keptBranches}` : '') +
    restartsText(status.restarts)
  );
}

function restartsText(restarts: Record<string, number>): string {
  const restarted = Object.entries(restarts).filter(([, n]) => n > 0);
  return restarted.length ? ` · restarts ${restarted.map(([name, n]) => `${name} ${n}`).join(', ')}` : '';
}

/** After a drain that ran out of time: what is still moving and where each part of it is kept until the next start. */
function describeLeftovers(
  status: StackStatus,
  accounting: Accounting | undefined,
  home: string,
  warehouse: string,
): string {
  const sum = (field: 'deadLettered' | 'onBranches' | 'inKafka' | 'missing') =>
    accounting?.topics.reduce((n, t) => n + t[field], 0) ?? 0;
  return [
    'still in flight when the drain timed out:',
    `  Kafka         lag ${status.lag}, in flight ${status.inFlight}${accounting ? `, ${sum('inKafka')} record(s) of this run past the committed offsets` : ''}: redelivered on the next start (${home}/kafka/)`,
    `  WAP branches  ${status.openBranches} open${accounting ? ` holding ${sum('onBranches')} record(s) of this run` : ''}: resumed by the janitor's redrive on the next start (\`floe branches\`)`,
    `  dead letters  ${accounting ? `${sum('deadLettered')} record(s) of this run ` : ''}under ${warehouse}deadletter/: \`floe deadletter replay --all\``,
    ...(accounting
      ? [
          `  unaccounted   ${sum('missing')} record(s) missing, ${accounting.topics.reduce((n, t) => n + t.duplicates, 0)} doubled`,
        ]
      : []),
  ].join('\n');
}

/** The table for people: on stdout, or with --json on stderr so that stdout is the one JSON object. */
function printAccounting(accounting: Accounting, write: (text: string) => void): void {
  const header = ['topic', 'sent', 'sent bad', 'trusted', 'untrusted', 'duplicates', 'dead-lettered', 'missing'];
  const rows = accounting.topics.map((t) =>
    [t.topic, t.sent, t.sentBad, t.trusted, t.untrusted, t.duplicates, t.deadLettered, t.missing].map(String),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  write(
    [header, ...rows]
      .map((r) => r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  '))
      .join('\n'),
  );
  write(
    accounting.ok
      ? 'every record is on main exactly once'
      : accounting.accounted
        ? 'nothing missing or doubled, but not every record is on main yet (see above for where the rest is kept)'
        : 'RECORDS MISSING OR DUPLICATED',
  );
}

export const command: Command = {
  name: 'start',
  summary: 'run the whole pipeline locally (Kafka, Nessie, functions, eventing, dashboard) fed by the simulator',
  description: [
    'Embedded defaults live under FLOE_HOME (default ./.floe). KAFKA_BROKERS, NESSIE_URI and FLOE_WAREHOUSE (+ S3_*)',
    'replace the embedded Kafka, Nessie and warehouse. Without --duration it runs until Ctrl-C, then drains in-flight',
    'batches and prints the accounting. A drain that does not finish within --drain-timeout reports what is still in',
    'flight and where it is kept; it exits non-zero only when records are missing or doubled. A function process that',
    'exits or is killed is restarted with backoff (0.5 s doubling up to 30 s); the status line counts the restarts.',
  ].join('\n'),
  options: {
    duration: {
      type: 'string',
      placeholder: 'D',
      description: 'produce for this long (e.g. 30s), drain, report, exit',
    },
    rate: { type: 'string', placeholder: 'N', default: '50', description: 'simulated events per second' },
    'bad-fraction': { type: 'string', placeholder: 'F', default: '0.05', description: 'share of bad records (0-1)' },
    seed: { type: 'string', placeholder: 'S', description: 'simulator seed (default random, printed)' },
    idle: { type: 'boolean', description: 'run the stack without the simulator' },
    home: { type: 'string', placeholder: 'DIR', description: 'data directory (default $FLOE_HOME or ./.floe)' },
    bundles: {
      type: 'string',
      placeholder: 'DIR',
      description: 'run DIR/<function>.mjs, the bundles of `npm run build` (dist/functions), instead of the sources',
    },
    'kafka-port': {
      type: 'string',
      placeholder: 'PORT',
      default: String(LOCAL_PORTS.kafka),
      description: 'embedded Kafka port (0 = any free port)',
    },
    'nessie-port': {
      type: 'string',
      placeholder: 'PORT',
      default: String(LOCAL_PORTS.nessie),
      description: 'embedded Nessie port',
    },
    'broker-port': {
      type: 'string',
      placeholder: 'PORT',
      default: String(LOCAL_PORTS.broker),
      description: 'local Broker ingress port',
    },
    'dashboard-port': {
      type: 'string',
      placeholder: 'PORT',
      default: String(LOCAL_PORTS.dashboard),
      description: 'dashboard port',
    },
    'status-interval': {
      type: 'string',
      placeholder: 'D',
      default: '3s',
      description: 'how often to print the status line',
    },
    'drain-timeout': {
      type: 'string',
      placeholder: 'D',
      description: 'bound on the final drain (default 60s after Ctrl-C, 180s after --duration)',
    },
    json: {
      type: 'boolean',
      description: 'print the final accounting as one JSON object: all of stdout (the rest goes to stderr)',
    },
  },
  examples: [
    'npm start',
    'floe start --duration 30s --rate 100 --bad-fraction 0.05 --seed 7 --json',
    'npm run build && floe start --bundles dist/functions --duration 30s',
  ],
  async run({ values }) {
    const durationMs = durationOption(values, 'duration');
    const rate = numberOption(values, 'rate', { min: 0.1, max: 100_000 }) ?? 50;
    const badFraction = numberOption(values, 'bad-fraction', { min: 0, max: 1 }) ?? 0.05;
    const seed = intOption(values, 'seed', { min: 0 });
    const statusEvery = durationOption(values, 'status-interval') ?? 3000;
    const drainTimeoutOption = durationOption(values, 'drain-timeout');
    const port = (name: string) => intOption(values, name, { min: 0, max: 65535 });
    const home = stringOption(values, 'home') ?? floeHome();
    const bundlesOption = stringOption(values, 'bundles');
    const bundles = bundlesOption === undefined ? undefined : path.resolve(bundlesOption);
    // stdout carries the accounting (and its JSON line); logs and the status line go to stderr.
    const logger = createLogger({ name: 'floe', destination: process.stderr });

    console.error(`starting floe in ${home} …`);
    const started = Date.now();
    const stack: RunningStack = await startStack({
      home,
      logger,
      bundles,
      configFile: process.env.FLOE_CONFIG ?? DEFAULT_PIPELINE_CONFIG,
      external: externalFromEnv(process.env),
      ports: {
        kafka: port('kafka-port'),
        nessie: port('nessie-port'),
        broker: port('broker-port'),
        dashboard: port('dashboard-port'),
      },
    });
    console.error(
      [
        `floe is up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  Kafka      ${stack.kafkaBrokers.join(',')}`,
        `  Nessie     ${stack.nessieUri}`,
        // The embedded Nessie serves the Iceberg REST catalog beside its API; a real one only with its catalog enabled.
        ...(process.env.NESSIE_URI ? [] : [`  Iceberg    ${stack.nessieUri.replace(/\/api$/, '/iceberg')}`]),
        `  warehouse  ${stack.warehouse}`,
        `  broker     ${stack.brokerUrl}`,
        ...(stack.dashboardUrl ? [`  dashboard  ${stack.dashboardUrl}`] : []),
        ...Object.values(stack.functions).map((fn) => `  ${fn.name.padEnd(10)} ${fn.url}`),
        ...(bundles ? [`  functions  from the bundles in ${bundles}`] : []),
        `  logs       ${home}/logs/`,
      ].join('\n'),
    );

    const abort = new AbortController();
    let interrupted = 0;
    const onSignal = () => {
      interrupted++;
      if (interrupted === 1) {
        console.error('stopping the simulator and draining in-flight batches … (Ctrl-C again to stop now)');
        abort.abort();
      } else {
        console.error('stopping now');
        void stack.stop().finally(() => process.exit(130));
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // The terminal went away: no one is left to read a report, and the functions (in their own process group) must not outlive us.
    process.on('SIGHUP', () => void stack.stop().finally(() => process.exit(129)));

    let produced = { sent: 0, bad: 0 };
    const ticker = setInterval(() => {
      void stack.status().then(
        (status) =>
          console.error(statusLine(Math.round((Date.now() - started) / 1000), produced.sent, produced.bad, status)),
        (err) => logger.warn({ err }, 'status unavailable'),
      );
    }, statusEvery);

    let report: SimulationReport | undefined;
    let exitCode = 0;
    try {
      if (!values.idle) {
        try {
          report = await simulate({
            brokers: stack.kafkaBrokers,
            rate,
            badFraction,
            signal: abort.signal,
            logger: logger.child({ part: 'simulator' }),
            ...(durationMs !== undefined ? { durationMs } : {}),
            ...(seed !== undefined ? { seed } : {}),
            onProgress: (r) => (produced = { sent: r.sent, bad: r.bad }),
          });
        } catch (err) {
          if (!(err instanceof SimulationError)) throw err;
          logger.error({ err }, 'the simulator stopped early');
          report = err.report;
          exitCode = 1;
        }
        console.error(`simulator done: ${report.sent} records (${report.bad} bad), seed ${report.seed}; draining …`);
      } else {
        await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
      }
      const drainDeadline = Date.now() + (drainTimeoutOption ?? (abort.signal.aborted ? 60_000 : 180_000));
      let leftover: StackStatus | undefined;
      const drain = async () => {
        try {
          await stack.waitIdle({ timeoutMs: Math.max(1000, drainDeadline - Date.now()) });
        } catch (err) {
          if (!(err instanceof NotIdleError)) throw err;
          leftover = err.status;
        }
      };
      await drain();
      if (!leftover) {
        // Events dead-lettered while a destination was down go back before the count (supervision brought it back).
        const replay = await stack
          .replayDeadLetters()
          .catch((err) => void logger.warn({ err }, 'replaying dead letters failed'));
        if (replay?.replayed.length) {
          console.error(`replayed ${replay.replayed.length} dead-lettered event(s); draining …`);
          await drain();
        }
      }
      const restarts = Object.fromEntries(Object.values(stack.functions).map((fn) => [fn.name, fn.restarts()]));
      if (Object.values(restarts).some((n) => n > 0))
        console.error(`function restarts:${restartsText(restarts).replace(' · restarts', '')}`);
      if (report) {
        const whereabouts = leftover
          ? await stack
              .whereabouts()
              .catch((err) => void logger.warn({ err }, 'could not look for records outside main'))
          : undefined;
        const accounting = await accountRun(stack.catalog, stack.env.pipeline, report, whereabouts ?? undefined);
        printAccounting(accounting, values.json ? console.error : console.log);
        if (leftover) console.error(describeLeftovers(leftover, accounting, home, stack.warehouse));
        // A drain cut short leaves records on their way; only records nowhere at all (or doubled) fail the run then.
        if (leftover ? !accounting.accounted : !accounting.ok) exitCode = 1;
        if (values.json) {
          console.log(
            stringifyJson({
              ok: accounting.ok,
              accounted: accounting.accounted,
              drained: !leftover,
              seed: report.seed,
              elapsedMs: report.elapsedMs,
              topics: accounting.topics,
              restarts,
            }),
          );
        }
      } else if (leftover) {
        console.error(describeLeftovers(leftover, undefined, home, stack.warehouse));
      }
    } finally {
      clearInterval(ticker);
      await stack.stop();
    }
    return exitCode;
  },
};
