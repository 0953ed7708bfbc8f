/**
 * The Kafka record inside a KafkaSource CloudEvent (NOTES §1.2): plain records arrive as `dev.knative.kafka.event`
 * with the topic in `source` (`…/kafkasources/NAME#TOPIC`), key and `kafkaheader*` extensions; records that already
 * were CloudEvents arrive as themselves plus `knativekafkapartition`/`knativekafkaoffset`. floe's KafkaSources name
 * the topic of every record in the `ceOverrides` extension `floekafkatopic`, the only topic a CloudEvent record has.
 *
 * Where the coordinates come from, and why (they key the tagged record's id, the offsets kept in snapshot summaries
 * and the publisher's duplicate filter, so they must name the source record, identically on every redelivery):
 *
 * - A plain record: from `id` (`partition:P/offset:O`) and `source` (`…#TOPIC`). The KafkaSource builds both from the
 *   source record and nothing downstream rewrites them. `knativekafkapartition`/`knativekafkaoffset` are not trusted
 *   for it: eventing-kafka-broker's data plane runs every consumer it hosts — KafkaSource, each Kafka Broker Trigger,
 *   each KafkaChannel subscription — through CloudEventOverridesMutator, which overwrites both extensions with the
 *   position of the record in the topic *that consumer* reads. Behind a Kafka Broker they name the Broker topic's
 *   position, which is new for every redelivery of the same source record.
 * - A record that is itself a CloudEvent: its id and source are the producer's, and ceOverrides are the same for
 *   every record, so the extensions are its only coordinates — and they name the source topic only on the
 *   KafkaSource's own delivery. That is why every KafkaSource sinks straight into the tagger (not into the Broker;
 *   knative/kafkasources.yaml, enforced by test/deploy) and the tagger emits its tagged record to `K_SINK`.
 */
import { InvalidEventError, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { EventType, Extension } from '../../shared/events/contract.ts';

export interface KafkaRecordRef {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  /** Kafka record time (CloudEvent `time`). */
  time: string | null;
  source: string;
  id: string;
  headers: Record<string, string>;
  contentType?: string;
  value: Uint8Array;
  /** The record was itself a CloudEvent (its own type/source/id are kept in `headers` as `ce_*`). */
  wasCloudEvent: boolean;
}

interface Coordinates {
  topic: string;
  partition: number;
  offset: bigint;
}

const ID_FORM = /^partition:(\d+)\/offset:(\d+)$/;

function topicOfSource(source: string): string | undefined {
  const hash = source.lastIndexOf('#');
  return hash >= 0 && hash < source.length - 1 ? source.slice(hash + 1) : undefined;
}

/**
 * The coordinates a KafkaSource wrote into a plain record's `id` and `source`; undefined when the event is not such a
 * wrap of a record of this source's topic (a CloudEvent record may have any type, this one included).
 */
function wrappedCoordinates(attributes: CloudEventMessage['attributes']): Coordinates | undefined {
  if (attributes.type !== EventType.kafkaRecord) return undefined;
  const match = ID_FORM.exec(attributes.id ?? '');
  const topic = topicOfSource(attributes.source);
  const named = attributes[Extension.kafkaTopic];
  if (!match || !topic || (named !== undefined && named !== topic)) return undefined;
  return { topic, partition: Number(match[1]), offset: BigInt(match[2]) };
}

/** A CloudEvent record's coordinates: the KafkaSource's extensions (see the header for why they are right here). */
function extensionCoordinates(attributes: CloudEventMessage['attributes']): Coordinates {
  const { id, knativekafkapartition: partition, knativekafkaoffset: offset } = attributes;
  const topic = attributes[Extension.kafkaTopic];
  if (!topic) {
    throw new InvalidEventError(
      attributes.type === EventType.kafkaRecord
        ? `event ${id}: source '${attributes.source}' does not name a topic with an id partition:P/offset:O (a KafkaSource's plain record: …/kafkasources/NAME#TOPIC), and no '${Extension.kafkaTopic}' extension names one`
        : `event ${id} (a CloudEvent record of type ${attributes.type}) has no '${Extension.kafkaTopic}' extension; set it with the KafkaSource's ceOverrides`,
    );
  }
  if (partition === undefined || offset === undefined) {
    throw new InvalidEventError(
      `event ${id} carries no Kafka coordinates: neither id partition:P/offset:O with source …#TOPIC nor knativekafkapartition/knativekafkaoffset`,
    );
  }
  if (!/^\d+$/.test(partition) || !/^\d+$/.test(offset)) {
    throw new InvalidEventError(`event ${id}: knativekafkapartition/knativekafkaoffset must be non-negative integers`);
  }
  return { topic, partition: Number(partition), offset: BigInt(offset) };
}

export function kafkaRecordOf(event: CloudEventMessage): KafkaRecordRef {
  const { attributes } = event;
  const wrapped = wrappedCoordinates(attributes);
  const { topic, partition, offset } = wrapped ?? extensionCoordinates(attributes);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('kafkaheader')) headers[name.slice('kafkaheader'.length)] = value;
  }
  if (!wrapped) {
    headers.ce_type = attributes.type;
    headers.ce_source = attributes.source;
    headers.ce_id = attributes.id;
  }
  return {
    topic,
    partition,
    offset,
    key: attributes.key ?? attributes.partitionkey ?? null,
    time: attributes.time ?? null,
    source: attributes.source,
    id: attributes.id,
    headers,
    ...(attributes.datacontenttype ? { contentType: attributes.datacontenttype } : {}),
    value: event.data,
    wasCloudEvent: !wrapped,
  };
}
