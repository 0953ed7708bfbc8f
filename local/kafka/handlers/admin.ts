/** ApiVersions, Metadata, CreateTopics, DeleteTopics, InitProducerId. */
import { NODE_ID, nextProducerId, type Broker } from '../broker.ts';
import { forgetTopic } from '../groups/coordinator.ts';
import { ErrorCode, KafkaError } from '../protocol/errors.ts';
import { apis } from '../protocol/apis/index.ts';
import { apiVersions } from '../protocol/apis/api-versions.ts';
import { createTopics } from '../protocol/apis/create-topics.ts';
import { deleteTopics } from '../protocol/apis/delete-topics.ts';
import { initProducerId } from '../protocol/apis/init-producer-id.ts';
import { metadata } from '../protocol/apis/metadata.ts';
import { createTopic, deleteTopic, topicNameProblem, type Topic, type TopicConfig } from '../topics.ts';
import { handler } from './context.ts';

export function supportedApiKeys() {
  return apis
    .map((a) => ({ apiKey: a.key, minVersion: a.minVersion, maxVersion: a.maxVersion }))
    .sort((a, b) => a.apiKey - b.apiKey);
}

export const apiVersionsHandler = handler(apiVersions, () => ({
  errorCode: ErrorCode.NONE,
  apiKeys: supportedApiKeys(),
  throttleTimeMs: 0,
}));

function describeTopic(topic: Topic) {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    isInternal: false,
    partitions: topic.partitions.map((_, p) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: p,
      leaderId: NODE_ID,
      replicaNodes: [NODE_ID],
      isrNodes: [NODE_ID],
      offlineReplicas: [],
    })),
  };
}

function unknownTopic(name: string, errorCode: number) {
  return { errorCode, name, isInternal: false, partitions: [] };
}

function autoCreate(broker: Broker, name: string): Topic {
  const topic = createTopic(broker.topics, name, broker.config.defaultPartitions);
  broker.logger.info({ topic: name, partitions: topic.partitions.length }, 'auto-created topic');
  return topic;
}

export const metadataHandler = handler(metadata, (ctx, req, version) => {
  const { broker } = ctx;
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  const topics = all
    ? [...broker.topics.topics.values()].map(describeTopic)
    : req.topics!.map(({ name }) => {
        const existing = broker.topics.topics.get(name);
        if (existing) return describeTopic(existing);
        if (topicNameProblem(name)) return unknownTopic(name, ErrorCode.INVALID_TOPIC_EXCEPTION);
        if (broker.config.autoCreateTopics && req.allowAutoTopicCreation)
          return describeTopic(autoCreate(broker, name));
        return unknownTopic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      });
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: NODE_ID, host: broker.config.advertisedHost, port: broker.port, rack: null }],
    clusterId: broker.clusterId,
    controllerId: NODE_ID,
    topics,
  };
});

/** Topic configs the broker honours; others are accepted and ignored. */
function topicConfig(configs: { name: string; value: string | null }[]): TopicConfig {
  const out: TopicConfig = {};
  for (const { name, value } of configs) {
    if (value === null || !/^-?\d+$/.test(value)) continue;
    if (name === 'retention.ms') out.retentionMs = Number(value);
    if (name === 'retention.bytes') out.retentionBytes = Number(value);
  }
  return out;
}

export const createTopicsHandler = handler(createTopics, (ctx, req) => ({
  throttleTimeMs: 0,
  topics: req.topics.map((t) => {
    try {
      const partitions =
        t.assignments.length > 0
          ? t.assignments.length
          : t.numPartitions === -1
            ? ctx.broker.config.defaultPartitions
            : t.numPartitions;
      if (t.replicationFactor !== -1 && t.replicationFactor !== 1 && t.assignments.length === 0) {
        throw new KafkaError(
          ErrorCode.INVALID_REPLICATION_FACTOR,
          `replication factor ${t.replicationFactor} is larger than the 1 available broker`,
        );
      }
      if (req.validateOnly) {
        const problem = topicNameProblem(t.name);
        if (problem) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, problem);
        if (ctx.broker.topics.topics.has(t.name))
          throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `topic '${t.name}' already exists`);
      } else {
        createTopic(ctx.broker.topics, t.name, partitions, topicConfig(t.configs));
        ctx.broker.logger.info({ topic: t.name, partitions }, 'created topic');
      }
      return { name: t.name, errorCode: ErrorCode.NONE, errorMessage: null };
    } catch (err) {
      if (err instanceof KafkaError) return { name: t.name, errorCode: err.code, errorMessage: err.message };
      throw err;
    }
  }),
}));

export const deleteTopicsHandler = handler(deleteTopics, async (ctx, req) => ({
  throttleTimeMs: 0,
  responses: await Promise.all(
    req.topicNames.map(async (name) => {
      if (!ctx.broker.topics.topics.has(name)) return { name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      deleteTopic(ctx.broker.topics, name);
      await forgetTopic(ctx.broker.coordinator, name);
      ctx.broker.logger.info({ topic: name }, 'deleted topic');
      return { name, errorCode: ErrorCode.NONE };
    }),
  ),
}));

export const initProducerIdHandler = handler(initProducerId, (ctx, req) => {
  if (req.transactionalId !== null) {
    ctx.broker.logger.warn(
      { transactionalId: req.transactionalId },
      'InitProducerId refused: transactions are not supported',
    );
    return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, producerId: -1n, producerEpoch: -1 };
  }
  // KIP-360: a producer that lost track of its sequences asks for the next epoch of its id.
  if (req.producerId >= 0n && req.producerEpoch >= 0 && req.producerEpoch < 32767) {
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      producerId: req.producerId,
      producerEpoch: req.producerEpoch + 1,
    };
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: nextProducerId(ctx.broker), producerEpoch: 0 };
});
