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
import { externalFromEnv, startStack, type RunningStack, type StackStatus } from '../../local/stack/index.ts';
import { simulate, SimulationError, type SimulationReport } from '../../local/simulator/index.ts';
import { DEFAULT_PIPELINE_CONFIG, floeHome, LOCAL_PORTS } from '../local-env.ts';

function statusLine(seconds: number, produced: number, bad: number, status: StackStatus): string {
  return `[${String(seconds).padStart(4)}s] produced ${produced} (${bad} bad) · on main ${status.trusted} trusted, ${status.untrusted} untrusted`
    + ` · lag ${status.lag} · in flight ${status.inFlight} · open branches ${status.openBranches}`
    + (status.keptBranches ? ` · rejected batches ${status.keptBranches}` : '') + (status.deadLettered ? ` · dead-lettered ${status.deadLettered}` : '');
}

function printAccounting(accounting: Accounting): void {
  const header = ['topic', 'sent', 'sent bad', 'trusted', 'untrusted', 'duplicates', 'missing'];
  const rows = accounting.topics.map((t) => [t.topic, t.sent, t.sentBad, t.trusted, t.untrusted, t.duplicates, t.missing].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log([header, ...rows].map((r) => r.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')).join('\n'));
  console.log(accounting.ok ? 'every record is on main exactly once' : 'RECORDS MISSING OR DUPLICATED');
}

export const command: Command = {
  name: 'start',
  summary: 'run the whole pipeline locally (Kafka, Nessie, functions, eventing, dashboard) fed by the simulator',
  description: [
    'Embedded defaults live under FLOE_HOME (default ./.floe). KAFKA_BROKERS, NESSIE_URI and FLOE_WAREHOUSE (+ S3_*)',
    'replace the embedded Kafka, Nessie and warehouse. Without --duration it runs until Ctrl-C, then drains in-flight',
    'batches and prints the accounting.',
  ].join('\n'),
  options: {
    duration: { type: 'string', placeholder: 'D', description: 'produce for this long (e.g. 30s), drain, report, exit' },
    rate: { type: 'string', placeholder: 'N', default: '50', description: 'simulated events per second' },
    'bad-fraction': { type: 'string', placeholder: 'F', default: '0.05', description: 'share of bad records (0-1)' },
    seed: { type: 'string', placeholder: 'S', description: 'simulator seed (default random, printed)' },
    idle: { type: 'boolean', description: 'run the stack without the simulator' },
    home: { type: 'string', placeholder: 'DIR', description: 'data directory (default $FLOE_HOME or ./.floe)' },
    bundles: { type: 'string', placeholder: 'DIR', description: 'run DIR/<function>.mjs, the bundles of `npm run build` (dist/functions), instead of the sources' },
    'kafka-port': { type: 'string', placeholder: 'PORT', default: String(LOCAL_PORTS.kafka), description: 'embedded Kafka port (0 = any free port)' },
    'nessie-port': { type: 'string', placeholder: 'PORT', default: String(LOCAL_PORTS.nessie), description: 'embedded Nessie port' },
    'broker-port': { type: 'string', placeholder: 'PORT', default: String(LOCAL_PORTS.broker), description: 'local Broker ingress port' },
    'dashboard-port': { type: 'string', placeholder: 'PORT', default: String(LOCAL_PORTS.dashboard), description: 'dashboard port' },
    'status-interval': { type: 'string', placeholder: 'D', default: '3s', description: 'how often to print the status line' },
    json: { type: 'boolean', description: 'print the final accounting as one JSON object on the last line' },
  },
  examples: ['npm start', 'floe start --duration 30s --rate 100 --bad-fraction 0.05 --seed 7 --json', 'npm run build && floe start --bundles dist/functions --duration 30s'],
  async run({ values }) {
    const durationMs = durationOption(values, 'duration');
    const rate = numberOption(values, 'rate', { min: 0.1, max: 100_000 }) ?? 50;
    const badFraction = numberOption(values, 'bad-fraction', { min: 0, max: 1 }) ?? 0.05;
    const seed = intOption(values, 'seed', { min: 0 });
    const statusEvery = durationOption(values, 'status-interval') ?? 3000;
    const port = (name: string) => intOption(values, name, { min: 0, max: 65535 });
    const home = stringOption(values, 'home') ?? floeHome();
    const bundlesOption = stringOption(values, 'bundles');
    const bundles = bundlesOption === undefined ? undefined : path.resolve(bundlesOption);
    // stdout carries the accounting (and its JSON line); logs and the status line go to stderr.
    const logger = createLogger({ name: 'floe', destination: process.stderr });

    console.error(`starting floe in ${home} …`);
    const started = Date.now();
    const stack: RunningStack = await startStack({
      home, logger, bundles, configFile: process.env.FLOE_CONFIG ?? DEFAULT_PIPELINE_CONFIG, external: externalFromEnv(process.env),
      ports: { kafka: port('kafka-port'), nessie: port('nessie-port'), broker: port('broker-port'), dashboard: port('dashboard-port') },
    });
    console.error([
      `floe is up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `  Kafka      ${stack.kafkaBrokers.join(',')}`,
      `  Nessie     ${stack.nessieUri}`,
      `  warehouse  ${stack.warehouse}`,
      `  broker     ${stack.brokerUrl}`,
      ...(stack.dashboardUrl ? [`  dashboard  ${stack.dashboardUrl}`] : []),
      ...Object.values(stack.functions).map((fn) => `  ${fn.name.padEnd(10)} ${fn.url}`),
      ...(bundles ? [`  functions  from the bundles in ${bundles}`] : []),
      `  logs       ${home}/logs/`,
    ].join('\n'));

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
        (status) => console.error(statusLine(Math.round((Date.now() - started) / 1000), produced.sent, produced.bad, status)),
        (err) => logger.warn({ err }, 'status unavailable'),
      );
    }, statusEvery);

    let report: SimulationReport | undefined;
    let exitCode = 0;
    try {
      if (!values.idle) {
        try {
          report = await simulate({
            brokers: stack.kafkaBrokers, rate, badFraction, signal: abort.signal, logger: logger.child({ part: 'simulator' }),
            ...(durationMs !== undefined ? { durationMs } : {}), ...(seed !== undefined ? { seed } : {}),
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
      await stack.waitIdle({ timeoutMs: 180_000 });
      if (report) {
        const accounting = await accountRun(stack.catalog, stack.env.pipeline, report);
        printAccounting(accounting);
        if (!accounting.ok) exitCode = 1;
        if (values.json) console.log(stringifyJson({ ok: accounting.ok, seed: report.seed, elapsedMs: report.elapsedMs, topics: accounting.topics }));
      }
    } finally {
      clearInterval(ticker);
      await stack.stop();
    }
    return exitCode;
  },
};
