/**
 * The position an event gets in the Kafka Broker's topic, and what that does to the event a Trigger delivers.
 *
 * The Kafka Broker's ingress appends every event it accepts — from a sender or a subscriber's reply — to the Broker's
 * one topic (`knative-broker-<ns>-<name>`, `default.topic.partitions` partitions of the Broker's ConfigMap), keyed by
 * its `partitionkey` extension, so the producer's partitioner picks the partition (murmur2 of the key; spread over
 * the partitions without one). Each Trigger is a consumer group on that topic, and the dispatcher passes every record
 * through CloudEventOverridesMutator (eventing-kafka-broker, data-plane/dispatcher), which sets
 * `knativekafkapartition` and `knativekafkaoffset` to the record's own position in the Broker's topic — overwriting
 * the values a KafkaSource put there for the source topic. So every Trigger sees the same position for one record
 * (retries included), a reply is a new record at a new position, and the same source record sent twice is two
 * records at two positions.
 *
 * The local Broker does the same, so that nothing local relies on those extensions surviving a Broker: the positions
 * are kept per partition and only grow, also across a restart of the local Broker when the caller keeps this object
 * (a Kafka topic never hands out an offset twice). The channel-based Broker (dev overlay, InMemoryChannel) leaves the
 * extensions alone; emulating the Kafka Broker is the stricter choice and the one production runs.
 */
import kafkajs from 'kafkajs';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { Broker, Manifests } from '../knative/manifests.ts';

export const PARTITION_EXTENSION = 'knativekafkapartition';
export const OFFSET_EXTENSION = 'knativekafkaoffset';

/**
 * When the manifests give the Broker no ConfigMap with `default.topic.partitions` (test manifests without a Broker
 * object): the Kafka Broker requires the key, so there is no default of its own to copy; one partition is the simplest.
 */
const DEFAULT_PARTITIONS = 1;

export interface BrokerTopic {
  readonly partitions: number;
  /** Appends the event: returns it as a Trigger receives it, at its new position. */
  append(event: CloudEventMessage): CloudEventMessage;
  /** The next offset of each partition. */
  ends(): bigint[];
}

/**
 * The partition of a Broker topic an event goes to, as the Kafka Broker's receiver picks it: Kafka's default
 * partitioner over the `partitionkey` extension (murmur2 of the key; round-robin without one).
 */
export function brokerPartitioner(partitions: number): (event: CloudEventMessage) => number {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  return (event) => {
    const key = event.attributes.partitionkey;
    return partitioner({
      topic: 'broker',
      partitionMetadata,
      message: key === undefined ? { value: null } : { key, value: null },
    });
  };
}

export function createBrokerTopic(partitions: number): BrokerTopic {
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new RangeError(`a Broker topic needs a positive number of partitions, got ${partitions}`);
  const partitionOf = brokerPartitioner(partitions);
  const next = Array.from({ length: partitions }, () => 0n);
  return {
    partitions,
    append(event) {
      const partition = partitionOf(event);
      const offset = next[partition]++;
      return {
        attributes: {
          ...event.attributes,
          [PARTITION_EXTENSION]: String(partition),
          [OFFSET_EXTENSION]: offset.toString(),
        },
        data: event.data,
      };
    },
    ends: () => [...next],
  };
}

/** The partitions of a Broker's topic: `default.topic.partitions` of the ConfigMap its `spec.config` names. */
export function brokerTopicPartitions(manifests: Manifests, broker: Broker | undefined): number {
  const configured =
    broker?.configMap === undefined ? undefined : manifests.configMaps[broker.configMap]?.['default.topic.partitions'];
  if (configured === undefined) return DEFAULT_PARTITIONS;
  const partitions = Number(configured);
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new RangeError(
      `Broker ${broker?.name}: default.topic.partitions must be a positive integer, got ${JSON.stringify(configured)}`,
    );
  return partitions;
}
