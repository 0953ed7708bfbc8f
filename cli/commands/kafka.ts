/**
 * `floe kafka`: runs the embedded Kafka-compatible broker in the foreground until SIGINT/SIGTERM.
 */
import path from 'node:path';
import { durationOption, intOption, stringOption, UsageError, type Command } from '../command.ts';
import { startKafkaBroker, type FsyncPolicy } from '../../local/kafka/index.ts';

const FSYNC: FsyncPolicy[] = ['always', 'interval', 'never'];

export const command: Command = {
  name: 'kafka',
  summary: 'run the embedded Kafka-compatible broker (local stand-in for Kafka)',
  description:
    'A single-node broker speaking the Kafka wire protocol (kafkajs 2.x, librdkafka 2.x / kcat), storing topics in durable\n' +
    'segment files under --data. Acknowledged records and committed group offsets survive kill -9.',
  options: {
    port: {
      type: 'string',
      short: 'p',
      placeholder: 'PORT',
      default: '9092',
      description: 'port to listen on (0: any free port)',
    },
    host: { type: 'string', placeholder: 'HOST', default: '127.0.0.1', description: 'interface to bind' },
    'advertised-host': {
      type: 'string',
      placeholder: 'HOST',
      description: 'host announced to clients (default: --host)',
    },
    data: { type: 'string', short: 'd', placeholder: 'DIR', default: '.floe/kafka', description: 'data directory' },
    partitions: { type: 'string', placeholder: 'N', default: '1', description: 'partitions of auto-created topics' },
    'no-auto-create': { type: 'boolean', description: 'do not create unknown topics when clients ask for them' },
    fsync: { type: 'string', placeholder: 'POLICY', default: 'interval', description: 'always | interval | never' },
    'fsync-interval': {
      type: 'string',
      placeholder: 'DURATION',
      default: '1s',
      description: 'how often dirty logs are fsynced under --fsync interval',
    },
    retention: {
      type: 'string',
      placeholder: 'DURATION',
      default: '7d',
      description: "delete segments older than this ('-1': keep forever)",
    },
    'retention-bytes': {
      type: 'string',
      placeholder: 'BYTES',
      description: 'delete oldest segments while a partition is larger than this',
    },
    'segment-bytes': {
      type: 'string',
      placeholder: 'BYTES',
      default: String(128 * 1024 * 1024),
      description: 'roll to a new segment file past this size',
    },
  },
  examples: [
    'floe kafka --port 9092 --data .floe/kafka',
    'floe kafka --port 0 --data /tmp/k --partitions 4 --fsync always',
  ],
  async run({ values }) {
    const port = intOption(values, 'port', { min: 0, max: 65535 })!;
    const fsync = stringOption(values, 'fsync') as FsyncPolicy;
    if (!FSYNC.includes(fsync)) throw new UsageError(`--fsync must be one of ${FSYNC.join(', ')}, got '${fsync}'`);
    const retentionMs = stringOption(values, 'retention') === '-1' ? -1 : durationOption(values, 'retention');
    const broker = await startKafkaBroker({
      port,
      host: stringOption(values, 'host'),
      advertisedHost: stringOption(values, 'advertised-host'),
      dataDir: path.resolve(stringOption(values, 'data')!),
      defaultPartitions: intOption(values, 'partitions', { min: 1, max: 10_000 }),
      autoCreateTopics: !values['no-auto-create'],
      fsync,
      fsyncIntervalMs: durationOption(values, 'fsync-interval'),
      retentionMs,
      retentionBytes: intOption(values, 'retention-bytes', { min: 1 }),
      segmentBytes: intOption(values, 'segment-bytes', { min: 1024 }),
    });
    console.log(`kafka broker listening on ${broker.brokers} (data: ${broker.dataDir})`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await broker.stop();
    return 0;
  },
};
