/**
 * The embedded Kafka-compatible broker: a single node speaking the Kafka wire protocol (kafkajs 2.x and librdkafka
 * 2.x clients), backed by durable segment files. The local stand-in only — production runs real Kafka.
 */
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import { closeBroker, defaultConfig, openBroker, type BrokerConfig } from './broker.ts';
import type { FsyncPolicy } from './log/partition-log.ts';
import { startServer, stopServer } from './server.ts';
import { createTopic as createTopicInStore, type TopicConfig } from './topics.ts';

export type { FsyncPolicy, TopicConfig };
export { Compression, kafkajsCodecs, type CompressionName, type CompressionType } from './protocol/compression.ts';

export interface KafkaBrokerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Host announced to clients; default: `host`, or 127.0.0.1 when binding all interfaces. */
  advertisedHost?: string;
  dataDir: string;
  /** Create a topic when a client asks for an unknown one (producers do before their first produce); default true. */
  autoCreateTopics?: boolean;
  /** Partitions of auto-created topics and of CreateTopics with -1; default 1. */
  defaultPartitions?: number;
  /**
   * always: fsync before acknowledging a produce; interval (default): every `fsyncIntervalMs`; never: leave it to the
   * OS. Acknowledged records survive kill -9 under all three.
   */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** Delete closed segments whose newest record is older than this; -1 keeps forever. Default 7 days. */
  retentionMs?: number;
  /** Delete closed segments while a partition is larger than this; default -1 (no limit). */
  retentionBytes?: number;
  retentionCheckIntervalMs?: number;
  /** Roll to a new segment file past this size; default 128 MiB. */
  segmentBytes?: number;
  indexIntervalBytes?: number;
  maxMessageBytes?: number;
  maxRequestBytes?: number;
  groupMinSessionTimeoutMs?: number;
  groupMaxSessionTimeoutMs?: number;
  /** How long the first rebalance of an empty group waits for more members; default 0. */
  groupInitialRebalanceDelayMs?: number;
  logger?: Logger;
}

export interface KafkaBroker {
  host: string;
  port: number;
  /** `host:port`, what clients take as bootstrap servers. */
  brokers: string;
  dataDir: string;
  createTopic(name: string, partitions: number, config?: TopicConfig): Promise<void>;
  /** Closes the listener, every connection, timer and file handle. */
  stop(): Promise<void>;
}

export async function startKafkaBroker(options: KafkaBrokerOptions): Promise<KafkaBroker> {
  const host = options.host ?? defaultConfig.host;
  const config: BrokerConfig = {
    ...defaultConfig,
    ...Object.fromEntries(
      Object.entries(options).filter(([k, v]) => v !== undefined && k !== 'logger' && k !== 'port'),
    ),
    host,
    advertisedHost: options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
    dataDir: options.dataDir,
  };
  const logger = options.logger ?? createLogger({ name: 'kafka' });
  const broker = openBroker(config, logger);
  let server;
  try {
    server = await startServer(broker, host, options.port ?? 0);
  } catch (err) {
    await closeBroker(broker);
    throw err;
  }
  const address = server.server.address() as { port: number };
  broker.port = address.port;
  logger.info({ host, port: broker.port, dataDir: config.dataDir, fsync: config.fsync }, 'kafka broker listening');
  let stopped: Promise<void> | undefined;
  return {
    host: config.advertisedHost,
    port: broker.port,
    brokers: `${config.advertisedHost}:${broker.port}`,
    dataDir: config.dataDir,
    async createTopic(name, partitions, topicConfig) {
      createTopicInStore(broker.topics, name, partitions, topicConfig);
    },
    stop() {
      stopped ??= (async () => {
        await stopServer(server);
        await closeBroker(broker);
        logger.info('kafka broker stopped');
      })();
      return stopped;
    },
  };
}
