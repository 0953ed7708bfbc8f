/**
 * The broker's state and lifecycle: configuration, topic logs, the group coordinator, producer ids, and the
 * background timers (interval fsync, retention). Networking lives in server.ts, request handling in handlers/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../shared/runtime/logger.ts';
import { parseJson, stringifyJson, toLong } from '../../shared/util/lossless-json.ts';
import { closeCoordinator, createCoordinator, type Coordinator } from './groups/coordinator.ts';
import { closeGroupStore, openGroupStore } from './groups/group-store.ts';
import type { FsyncPolicy } from './log/partition-log.ts';
import { closeTopicStore, enforceRetention, flushDirty, openTopicStore, type TopicStore } from './topics.ts';

export interface BrokerConfig {
  host: string;
  /** The host clients are told to connect to (Metadata, FindCoordinator). */
  advertisedHost: string;
  dataDir: string;
  autoCreateTopics: boolean;
  defaultPartitions: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  retentionMs: number;
  retentionBytes: number;
  retentionCheckIntervalMs: number;
  segmentBytes: number;
  indexIntervalBytes: number;
  /** Largest record batch accepted. */
  maxMessageBytes: number;
  /** Largest request frame accepted; larger ones close the connection. */
  maxRequestBytes: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
}

export const defaultConfig: Omit<BrokerConfig, 'dataDir'> = {
  host: '127.0.0.1',
  advertisedHost: '127.0.0.1',
  autoCreateTopics: true,
  defaultPartitions: 1,
  fsync: 'interval',
  fsyncIntervalMs: 1000,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  retentionCheckIntervalMs: 5 * 60 * 1000,
  segmentBytes: 128 * 1024 * 1024,
  indexIntervalBytes: 4096,
  maxMessageBytes: 16 * 1024 * 1024,
  maxRequestBytes: 100 * 1024 * 1024,
  groupMinSessionTimeoutMs: 1000,
  groupMaxSessionTimeoutMs: 30 * 60 * 1000,
  groupInitialRebalanceDelayMs: 0,
};

export const NODE_ID = 1;
const PRODUCER_ID_BLOCK = 1000n;

export interface Broker {
  config: BrokerConfig;
  logger: Logger;
  /** The port clients reach (known once the server listens). */
  port: number;
  clusterId: string;
  topics: TopicStore;
  coordinator: Coordinator;
  producerIds: { next: bigint; reserved: bigint };
  metaPath: string;
  /** Aborted when the broker stops: parked fetches return at once. */
  stopping: AbortController;
  timers: NodeJS.Timeout[];
}

interface Meta {
  clusterId: string;
  producerIdsReserved: unknown;
}

export function openBroker(config: BrokerConfig, logger: Logger): Broker {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const metaPath = path.join(config.dataDir, 'meta.json');
  const meta: Meta = fs.existsSync(metaPath)
    ? parseJson<Meta>(fs.readFileSync(metaPath, 'utf8'))
    : { clusterId: randomBytes(16).toString('base64url').slice(0, 22), producerIdsReserved: 0 };
  const reserved = toLong(meta.producerIdsReserved, 'producerIdsReserved');
  const topics = openTopicStore(config.dataDir, config, logger);
  const { store, offsets, groups } = openGroupStore(config.dataDir, config.fsync);
  const coordinator = createCoordinator(
    store,
    offsets,
    groups,
    {
      minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
      maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
      initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    },
    logger,
  );
  const broker: Broker = {
    config,
    logger,
    port: 0,
    clusterId: meta.clusterId,
    topics,
    coordinator,
    // Ids handed out before a restart may be anywhere below the reserved mark: start above it.
    producerIds: { next: reserved, reserved },
    metaPath,
    stopping: new AbortController(),
    timers: [],
  };
  writeMeta(broker);
  if (config.fsync === 'interval') {
    broker.timers.push(
      setInterval(
        () => flushDirty(topics).catch((err) => logger.error({ err }, 'interval fsync failed')),
        config.fsyncIntervalMs,
      ),
    );
  }
  if (config.retentionMs >= 0 || config.retentionBytes >= 0) {
    broker.timers.push(
      setInterval(() => enforceRetention(topics, Date.now(), logger), config.retentionCheckIntervalMs),
    );
  }
  enforceRetention(topics, Date.now(), logger);
  return broker;
}

function writeMeta(broker: Broker): void {
  const text = stringifyJson({ clusterId: broker.clusterId, producerIdsReserved: broker.producerIds.reserved });
  fs.writeFileSync(`${broker.metaPath}.tmp`, text);
  fs.renameSync(`${broker.metaPath}.tmp`, broker.metaPath);
}

/** A producer id never handed out before, across restarts (ids are reserved on disk in blocks). */
export function nextProducerId(broker: Broker): bigint {
  const ids = broker.producerIds;
  if (ids.next >= ids.reserved) {
    ids.reserved = ids.next + PRODUCER_ID_BLOCK;
    writeMeta(broker);
  }
  return ids.next++;
}

export async function closeBroker(broker: Broker): Promise<void> {
  broker.stopping.abort();
  for (const t of broker.timers) clearInterval(t);
  broker.timers = [];
  closeCoordinator(broker.coordinator);
  await closeTopicStore(broker.topics);
  closeGroupStore(broker.coordinator.store);
}
