/** A broker on a free port in a fresh temporary directory, with a kafkajs client that speaks every compression. */
import { Writable } from 'node:stream';
import kafkajs from 'kafkajs';
import { createLogger } from '../../../shared/runtime/logger.ts';
import {
  kafkajsCodecs,
  startKafkaBroker,
  type KafkaBroker,
  type KafkaBrokerOptions,
} from '../../../local/kafka/index.ts';
import { tempDir } from '../../helpers/tmp.ts';

Object.assign(kafkajs.CompressionCodecs, kafkajsCodecs());

export const { Kafka, Partitioners, CompressionTypes, logLevel } = kafkajs;

/** Broker log lines, parsed: tests read group events from them. */
export type LogLine = Record<string, unknown> & { msg: string };

export interface TestBroker {
  broker: KafkaBroker;
  dir: string;
  kafka: InstanceType<typeof Kafka>;
  logs: LogLine[];
  /** Stops the broker (idempotent) without removing the data directory. */
  stop(): Promise<void>;
  /** Starts a new broker on the same data directory. */
  restart(extra?: Partial<KafkaBrokerOptions>): Promise<TestBroker>;
  cleanup(): Promise<void>;
}

export async function startTestBroker(
  options: Partial<KafkaBrokerOptions> = {},
  existingDir?: string,
): Promise<TestBroker> {
  const tmp = existingDir ? { dir: existingDir, cleanup: async () => {} } : await tempDir('floe-kafka');
  const logs: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger({
    name: 'kafka',
    level: process.env.FLOE_LOG_LEVEL ?? 'info',
    format: 'json',
    destination,
  });
  const broker = await startKafkaBroker({ dataDir: tmp.dir, logger, ...options });
  const kafka = new Kafka({
    clientId: 'floe-test',
    brokers: [broker.brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
  });
  const self: TestBroker = {
    broker,
    dir: tmp.dir,
    kafka,
    logs,
    stop: () => broker.stop(),
    restart: async (extra = {}) => {
      await broker.stop();
      const next = await startTestBroker({ ...options, ...extra }, tmp.dir);
      next.cleanup = self.cleanup;
      return next;
    },
    cleanup: async () => {
      await broker.stop();
      await tmp.cleanup();
    },
  };
  return self;
}
