/**
 * The Kafka record inside a KafkaSource CloudEvent (NOTES §1.2): plain records arrive as `dev.knative.kafka.event`
 * with the topic in `source` (`…/kafkasources/NAME#TOPIC`), key and `kafkaheader*` extensions; records that already
 * were CloudEvents arrive as themselves plus `knativekafkapartition`/`knativekafkaoffset`. floe's KafkaSources name
 * the topic of every record in the `ceOverrides` extension `floekafkatopic`, the only topic a CloudEvent record has.
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

const ID_FORM = /^partition:(\d+)\/offset:(\d+)$/;

function coordinates(event: CloudEventMessage): { partition: number; offset: bigint } {
  const { attributes } = event;
  if (attributes.knativekafkapartition !== undefined && attributes.knativekafkaoffset !== undefined) {
    if (!/^\d+$/.test(attributes.knativekafkapartition) || !/^\d+$/.test(attributes.knativekafkaoffset)) {
      throw new InvalidEventError(`event ${attributes.id}: knativekafkapartition/knativekafkaoffset must be non-negative integers`);
    }
    return { partition: Number(attributes.knativekafkapartition), offset: BigInt(attributes.knativekafkaoffset) };
  }
  const match = ID_FORM.exec(attributes.id ?? '');
  if (match) return { partition: Number(match[1]), offset: BigInt(match[2]) };
  throw new InvalidEventError(`event ${attributes.id} carries no Kafka coordinates (knativekafkapartition/knativekafkaoffset or id partition:P/offset:O)`);
}

export function kafkaRecordOf(event: CloudEventMessage): KafkaRecordRef {
  const { attributes } = event;
  const { partition, offset } = coordinates(event);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('kafkaheader')) headers[name.slice('kafkaheader'.length)] = value;
  }
  const plain = attributes.type === EventType.kafkaRecord;
  let topic: string | undefined = attributes[Extension.kafkaTopic];
  if (plain && !topic) {
    const hash = attributes.source.lastIndexOf('#');
    if (hash >= 0 && hash < attributes.source.length - 1) topic = attributes.source.slice(hash + 1);
  }
  if (!topic) {
    throw new InvalidEventError(plain
      ? `event ${attributes.id}: source '${attributes.source}' does not name a topic (expected …/kafkasources/NAME#TOPIC)`
      : `event ${attributes.id} (a CloudEvent record of type ${attributes.type}) has no '${Extension.kafkaTopic}' extension; set it with the KafkaSource's ceOverrides`);
  }
  if (!plain) {
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
    wasCloudEvent: !plain,
  };
}
