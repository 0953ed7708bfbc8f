/**
 * `floe simulate`: the parking-lot digital twin as a Kafka producer — against the embedded broker or a real cluster.
 * Prints a status line to stderr every few seconds and a final report (what Kafka acknowledged, per topic, with the
 * bad records by kind and the offset ranges) to stdout; Ctrl-C stops producing and still prints the report.
 */
import {
  durationOption,
  intOption,
  numberOption,
  stringOption,
  UsageError,
  type Command,
  type OptionValues,
} from '../command.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import {
  BAD_KINDS,
  DEFAULT_TOPICS,
  isBrokerAddress,
  simulate,
  SimulationError,
  TOPIC_ROLES,
  type SimulateOptions,
  type SimulationReport,
  type TopicNames,
} from '../../local/simulator/index.ts';

const DEFAULT_BROKERS = '127.0.0.1:9092';

export const command: Command = {
  name: 'simulate',
  summary: 'produce parking-lot events (entries, exits with camera images, sensors, bad records) into Kafka',
  description:
    `A digital twin of one lot (200 slots) sends ${Object.values(DEFAULT_TOPICS).join(', ')} events at --rate events/s.\n` +
    `A share of the records is bad on purpose (${BAD_KINDS.join(', ')}). Runs for --duration or --count\n` +
    '(whichever comes first), or until Ctrl-C. The same --seed gives the same events (timestamps follow the clock).',
  options: {
    brokers: {
      type: 'string',
      short: 'b',
      placeholder: 'HOST:PORT[,..]',
      description: `Kafka bootstrap servers (default: $KAFKA_BROKERS or ${DEFAULT_BROKERS})`,
    },
    rate: {
      type: 'string',
      short: 'r',
      placeholder: 'N',
      default: '50',
      description: 'events per second over all topics',
    },
    duration: {
      type: 'string',
      short: 'd',
      placeholder: 'DURATION',
      description: 'stop after this long, e.g. 30s, 5m',
    },
    count: { type: 'string', short: 'n', placeholder: 'N', description: 'stop after N events' },
    seed: {
      type: 'string',
      placeholder: 'S',
      description: 'seed, 0..4294967295 (default: random, shown in the report)',
    },
    'bad-fraction': { type: 'string', placeholder: 'F', default: '0.05', description: 'share of bad records, 0..1' },
    'topic-prefix': {
      type: 'string',
      placeholder: 'PREFIX',
      description: 'put PREFIX in front of the three topic names',
    },
    partitions: {
      type: 'string',
      placeholder: 'N',
      description: "partitions of topics the simulator creates (default: the broker's)",
    },
    'status-interval': {
      type: 'string',
      placeholder: 'DURATION',
      default: '5s',
      description: 'how often a status line goes to stderr',
    },
    json: { type: 'boolean', description: 'print the final report as one JSON line' },
  },
  examples: [
    'floe simulate --duration 30s',
    'floe simulate --brokers kafka:9092 --rate 200 --count 10000 --seed 7 --bad-fraction 0.1 --json',
  ],
  async run({ values }) {
    const options = simulateOptions(values);
    const statusEvery = positiveDuration(values, 'status-interval')!;
    const controller = new AbortController();
    const onSignal = () => {
      // A second Ctrl-C does not wait for the send in flight.
      if (controller.signal.aborted) process.exit(130);
      process.stderr.write('simulate: stopping (Ctrl-C again to quit at once)\n');
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const status = statusLine(statusEvery);
    try {
      const report = await simulate({
        ...options,
        signal: controller.signal,
        onProgress: status.update,
        logger: createLogger({ name: 'simulate', destination: process.stderr }),
      });
      printReport(report, values.json === true);
      return 0;
    } catch (err) {
      if (!(err instanceof SimulationError)) throw err;
      printReport(err.report, values.json === true);
      process.stderr.write(`floe simulate: ${err.message}\n`);
      return 1;
    } finally {
      status.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

function simulateOptions(values: OptionValues): Omit<SimulateOptions, 'signal' | 'onProgress' | 'logger'> {
  const brokers = (stringOption(values, 'brokers') ?? process.env.KAFKA_BROKERS ?? DEFAULT_BROKERS)
    .split(',')
    .map((b) => b.trim());
  const wrong = brokers.find((b) => !isBrokerAddress(b));
  if (wrong !== undefined) throw new UsageError(`--brokers expects host:port[,host:port..], got '${wrong}'`);
  const rate = numberOption(values, 'rate', { max: 1_000_000 })!;
  if (!(rate > 0)) throw new UsageError(`--rate must be more than 0, got ${rate}`);
  const prefix = stringOption(values, 'topic-prefix') ?? '';
  if (!/^[a-zA-Z0-9._-]*$/.test(prefix) || prefix.length > 200)
    throw new UsageError(
      `--topic-prefix may only use letters, digits, '.', '_' and '-' (at most 200), got '${prefix}'`,
    );
  const topics = Object.fromEntries(
    TOPIC_ROLES.map((role) => [role, `${prefix}${DEFAULT_TOPICS[role]}`]),
  ) as TopicNames;
  return {
    brokers,
    rate,
    durationMs: positiveDuration(values, 'duration'),
    count: intOption(values, 'count', { min: 1 }),
    seed: intOption(values, 'seed', { min: 0, max: 2 ** 32 - 1 }),
    badFraction: numberOption(values, 'bad-fraction', { min: 0, max: 1 }),
    topics,
    partitions: intOption(values, 'partitions', { min: 1, max: 10_000 }),
  };
}

function positiveDuration(values: OptionValues, name: string): number | undefined {
  const ms = durationOption(values, name);
  if (ms !== undefined && ms <= 0)
    throw new UsageError(`--${name} must be longer than 0, got '${stringOption(values, name)}'`);
  return ms;
}

/** Remembers the latest progress and writes `sent, bad, rate` to stderr every `everyMs`. */
function statusLine(everyMs: number): { update(report: SimulationReport): void; stop(): void } {
  let latest: SimulationReport | undefined;
  let previous = { sent: 0, at: performance.now() };
  const timer = setInterval(() => {
    const now = performance.now();
    const sent = latest?.sent ?? 0;
    const rate = ((sent - previous.sent) * 1000) / (now - previous.at);
    previous = { sent, at: now };
    const perTopic = latest
      ? TOPIC_ROLES.map((role) => `${latest!.topics[role].topic} ${latest!.topics[role].sent}`).join(', ')
      : '';
    process.stderr.write(
      `simulate: ${seconds(latest?.elapsedMs ?? 0)} sent ${sent} (bad ${latest?.bad ?? 0}), ${rate.toFixed(1)}/s${perTopic ? ` — ${perTopic}` : ''}\n`,
    );
  }, everyMs);
  timer.unref();
  return { update: (report) => (latest = report), stop: () => clearInterval(timer) };
}

function printReport(report: SimulationReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${stringifyJson(report)}\n`);
    return;
  }
  process.stdout.write(`${formatReport(report)}\n`);
}

/** The report for people: totals, a table per topic with bad records by kind, and the offset ranges. */
export function formatReport(report: SimulationReport): string {
  const rate = report.elapsedMs > 0 ? (report.sent * 1000) / report.elapsedMs : 0;
  const lines = [
    `sent ${report.sent} events (${report.bad} bad) in ${seconds(report.elapsedMs)} — ${rate.toFixed(1)}/s of ${report.rate}/s requested`,
    `seed ${report.seed}, brokers ${report.brokers.join(',')}, started ${report.startedAt}, stopped by ${report.stoppedBy ?? 'error'}`,
  ];
  if (report.unconfirmed > 0)
    lines.push(`${report.unconfirmed} records of a failed send are unconfirmed: they may or may not be in Kafka`);
  const headers = ['topic', 'sent', 'bad', ...BAD_KINDS];
  const rows = TOPIC_ROLES.map((role) => {
    const t = report.topics[role];
    return [t.topic, String(t.sent), String(t.bad.total), ...BAD_KINDS.map((kind) => String(t.bad.byKind[kind]))];
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push('', format(headers), ...rows.map(format), '', 'acknowledged offsets (partition: first..last):');
  for (const role of TOPIC_ROLES) {
    const t = report.topics[role];
    const ranges = t.partitions.flatMap(({ partition, ranges }) =>
      ranges.map(([first, last]) => `${partition}: ${first}..${last}`),
    );
    lines.push(`  ${t.topic.padEnd(widths[0])}  ${ranges.length ? ranges.join(', ') : '(none)'}`);
  }
  return lines.join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
