/**
 * A Kafka record as the CloudEvent a KafkaSource sends (NOTES §1.2; eventing-kafka-broker's
 * InvalidCloudEventInterceptor and CloudEventOverridesMutator):
 *
 * - a plain record becomes `dev.knative.kafka.event` with id `partition:P/offset:O`, source
 *   `/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>`, subject `partition:P#O`, time = the record timestamp, the
 *   key as `key` and `partitionkey`, the `content-type` header (any case, value lower-cased) as datacontenttype, every
 *   other header as `kafkaheader<name lower-cased, non [a-z0-9] dropped>`, the value bytes unchanged as data;
 * - a record that already is a CloudEvent (header `content-type: application/cloudevents…` = structured, or
 *   `ce_specversion` headers = binary) is forwarded as itself; if it does not parse it is wrapped like a plain record;
 * - either way `knativekafkapartition`, `knativekafkaoffset` and the source's ceOverrides extensions are added.
 *
 * Times are written as Java's ISO_OFFSET_DATE_TIME writes them (no `.000`, no trailing zeros), byte for byte what
 * the cluster's dispatcher sends. Only string keys are mapped (the `key-type: string` label, floe's choice). The
 * mapping does not validate: a record the receiver cannot read is refused there (4xx) and dead-lettered, as in the
 * cluster; the ceOverrides names are checked when the source starts.
 */
import { fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';

export const KAFKA_EVENT_TYPE = 'dev.knative.kafka.event';

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;

/** The fields of a fetched record the mapping reads (a kafkajs message plus its topic and partition). */
export interface KafkaRecord {
  topic: string;
  partition: number;
  /** Decimal string: offsets are 64-bit. */
  offset: string;
  /** Milliseconds since the epoch, decimal string (kafkajs). */
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, HeaderValue>;
}

export interface SourceIdentity {
  name: string;
  namespace: string;
  /** ceOverrides extensions. */
  extensions: Record<string, string>;
}

export function recordToEvent(record: KafkaRecord, source: SourceIdentity): CloudEventMessage {
  const event = asCloudEvent(record) ?? wrapRecord(record, source);
  const attributes = {
    ...event.attributes,
    knativekafkapartition: String(record.partition),
    knativekafkaoffset: record.offset,
    ...source.extensions,
  };
  return { attributes, data: event.data };
}

function wrapRecord(record: KafkaRecord, source: SourceIdentity): CloudEventMessage {
  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: `partition:${record.partition}/offset:${record.offset}`,
    source: `/apis/v1/namespaces/${source.namespace}/kafkasources/${source.name}#${record.topic}`,
    type: KAFKA_EVENT_TYPE,
    subject: `partition:${record.partition}#${record.offset}`,
    time: javaOffsetDateTime(Number(record.timestamp)),
  };
  const key = record.key?.toString('utf8');
  if (key) {
    attributes.key = key;
    attributes.partitionkey = key;
  }
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const text = headerText(value);
    if (text === undefined) continue;
    if (name.toLowerCase() === 'content-type') attributes.datacontenttype = text.toLowerCase();
    else attributes[`kafkaheader${name.toLowerCase().replace(/[^a-z0-9]/g, '')}`] = text;
  }
  return { attributes, data: record.value ?? new Uint8Array(0) };
}

/** The record's own CloudEvent (Kafka protocol binding), or undefined when it is none or does not parse. */
function asCloudEvent(record: KafkaRecord): CloudEventMessage | undefined {
  const headers = record.headers ?? {};
  const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type');
  const contentTypeText = contentType ? headerText(contentType[1]) : undefined;
  try {
    if (contentTypeText?.toLowerCase().startsWith('application/cloudevents')) {
      return fromHttp({ 'content-type': contentTypeText }, record.value ?? new Uint8Array(0));
    }
    if (headers.ce_specversion === undefined) return undefined;
    // The Kafka binding's `ce_<name>` headers carry the same attributes as HTTP's `ce-<name>`, without HTTP's
    // percent-encoding: encode them so that the HTTP codec (and its validation) reads the values back unchanged.
    const http: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      const text = headerText(value);
      if (text !== undefined && name.startsWith('ce_')) http[`ce-${name.slice(3)}`] = encodeURIComponent(text);
    }
    if (contentTypeText) http['content-type'] = contentTypeText;
    return fromHttp(http, record.value ?? new Uint8Array(0));
  } catch {
    return undefined;
  }
}

/** A header's value as UTF-8 text; a repeated header counts with its last value, as in the Java dispatcher. */
function headerText(value: HeaderValue): string | undefined {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
}

/** `DateTimeFormatter.ISO_OFFSET_DATE_TIME` of an instant in UTC: seconds always, the fraction only as long as needed. */
export function javaOffsetDateTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return iso.replace(/\.(\d{3})Z$/, (_, fraction: string) =>
    fraction === '000' ? 'Z' : `.${fraction.replace(/0+$/, '')}Z`,
  );
}
