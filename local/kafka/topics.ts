/**
 * Topics on disk: `<data>/topics/<name>/topic.json` (partition count, configs) and one directory per partition.
 * A topic exists once its topic.json is written, so a crash during creation leaves nothing half-made behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../shared/runtime/logger.ts';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';
import { ErrorCode, KafkaError } from './protocol/errors.ts';
import {
  applyRetention,
  closePartitionLog,
  deletePartitionLog,
  flush,
  openPartitionLog,
  type LogConfig,
  type PartitionLog,
} from './log/partition-log.ts';

export interface TopicConfig {
  retentionMs?: number;
  retentionBytes?: number;
}

export interface Topic {
  name: string;
  dir: string;
  partitions: PartitionLog[];
  config: TopicConfig;
}

export interface TopicStore {
  topics: Map<string, Topic>;
  dir: string;
  logConfig: LogConfig;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function topicNameProblem(name: string): string | null {
  if (!TOPIC_NAME.test(name)) return `invalid topic name '${name}': 1–249 characters of a-z A-Z 0-9 . _ -`;
  if (name === '.' || name === '..') return `invalid topic name '${name}'`;
  return null;
}

export function openTopicStore(dataDir: string, logConfig: LogConfig, logger: Logger): TopicStore {
  const dir = path.join(dataDir, 'topics');
  fs.mkdirSync(dir, { recursive: true });
  const store: TopicStore = { topics: new Map(), dir, logConfig };
  for (const name of fs.readdirSync(dir)) {
    const topicDir = path.join(dir, name);
    const metaPath = path.join(topicDir, 'topic.json');
    if (!fs.existsSync(metaPath)) {
      fs.rmSync(topicDir, { recursive: true, force: true });
      continue;
    }
    const meta = parseJson<{ partitions: number; config?: TopicConfig }>(fs.readFileSync(metaPath, 'utf8'));
    const partitions: PartitionLog[] = [];
    for (let p = 0; p < meta.partitions; p++) {
      const { log, truncatedBytes } = openPartitionLog(path.join(topicDir, String(p)), name, p, logConfig);
      if (truncatedBytes > 0)
        logger.warn(
          { topic: name, partition: p, truncatedBytes },
          'recovered partition log: cut off an incomplete tail',
        );
      partitions.push(log);
    }
    store.topics.set(name, { name, dir: topicDir, partitions, config: meta.config ?? {} });
  }
  return store;
}

export function createTopic(store: TopicStore, name: string, partitions: number, config: TopicConfig = {}): Topic {
  const problem = topicNameProblem(name);
  if (problem) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem);
  if (store.topics.has(name)) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `topic '${name}' already exists`);
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000)
    throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `invalid partition count ${partitions}`);
  const topicDir = path.join(store.dir, name);
  fs.rmSync(topicDir, { recursive: true, force: true });
  fs.mkdirSync(topicDir, { recursive: true });
  const logs = Array.from(
    { length: partitions },
    (_, p) => openPartitionLog(path.join(topicDir, String(p)), name, p, store.logConfig).log,
  );
  const metaPath = path.join(topicDir, 'topic.json');
  fs.writeFileSync(`${metaPath}.tmp`, stringifyJson({ partitions, config }));
  fs.renameSync(`${metaPath}.tmp`, metaPath);
  const topic: Topic = { name, dir: topicDir, partitions: logs, config };
  store.topics.set(name, topic);
  return topic;
}

export function deleteTopic(store: TopicStore, name: string): void {
  const topic = store.topics.get(name);
  if (!topic) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic '${name}'`);
  store.topics.delete(name);
  fs.rmSync(path.join(topic.dir, 'topic.json'), { force: true });
  for (const log of topic.partitions) deletePartitionLog(log);
  fs.rmSync(topic.dir, { recursive: true, force: true });
}

export function partitionLog(store: TopicStore, topic: string, partition: number): PartitionLog | undefined {
  return store.topics.get(topic)?.partitions[partition];
}

export function enforceRetention(store: TopicStore, now: number, logger: Logger): void {
  for (const topic of store.topics.values()) {
    const limits = {
      retentionMs: topic.config.retentionMs ?? store.logConfig.retentionMs,
      retentionBytes: topic.config.retentionBytes ?? store.logConfig.retentionBytes,
    };
    for (const log of topic.partitions) {
      const deleted = applyRetention(log, now, limits);
      if (deleted)
        logger.info(
          {
            topic: topic.name,
            partition: log.partition,
            segments: deleted,
            logStartOffset: log.logStartOffset.toString(),
          },
          'retention deleted segments',
        );
    }
  }
}

export async function flushDirty(store: TopicStore): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const topic of store.topics.values())
    for (const log of topic.partitions) if (log.dirty) pending.push(flush(log));
  await Promise.all(pending);
}

export async function closeTopicStore(store: TopicStore): Promise<void> {
  for (const topic of store.topics.values()) for (const log of topic.partitions) await closePartitionLog(log);
  store.topics.clear();
}
