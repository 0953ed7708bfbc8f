/**
 * The function contract the manifests are checked against: which functions exist, which events each consumes and
 * emits (and how), and which events are deliberately terminal — the decided design (DESIGN.md, issue 5), with the
 * event type and extension names taken from the functions' own contract (shared/events/contract.ts).
 */
import { EventType, Extension } from '../../shared/events/contract.ts';

/** Every Knative Service of the base; `dashboard` is the read-only web app (`floe dashboard`), not an event function. */
export const FUNCTIONS = [
  'tagger',
  'writer',
  'auditor',
  'publisher',
  'compactor',
  'janitor',
  'deadletter',
  'dashboard',
] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** The one image every function runs; `FLOE_FUNCTION` selects the handler. */
export const IMAGE = 'ghcr.io/floe-dev/floe';
export const DEAD_LETTER_SINK: FunctionName = 'deadletter';
export const HEALTH_PATHS = { readinessProbe: '/health/readiness', livenessProbe: '/health/liveness' } as const;

/** Every Kafka record of a KafkaSource goes to this function, directly: the KafkaSources' sink. */
export const KAFKA_EVENT_CONSUMER: FunctionName = 'tagger';

/** PingSource jobs (extension `floejob`) and the function each must reach. */
export const PING_JOBS: Readonly<Record<string, FunctionName>> = {
  compact: 'compactor',
  expire: 'compactor',
  orphans: 'janitor',
  redrive: 'janitor',
  tags: 'janitor',
};

export interface EmittedEvent {
  type: string;
  /** How the producer emits it: a CloudEvent in the 2xx reply, or its own POST to K_SINK (needs a SinkBinding). */
  via: 'reply' | 'sink';
}

/** Events each function emits. */
export const EMITS: Readonly<Record<FunctionName, readonly EmittedEvent[]>> = {
  // to K_SINK: the tagger is the KafkaSources' sink, and a KafkaSource discards replies
  tagger: [{ type: EventType.recordTagged, via: 'sink' }],
  writer: [{ type: EventType.batchWritten, via: 'sink' }],
  auditor: [{ type: EventType.batchAudited, via: 'reply' }],
  publisher: [
    { type: EventType.batchPublished, via: 'reply' },
    { type: EventType.batchRejected, via: 'reply' },
  ],
  compactor: [],
  // re-drive of stalled batches
  janitor: [
    { type: EventType.batchWritten, via: 'sink' },
    { type: EventType.batchAudited, via: 'sink' },
  ],
  deadletter: [],
  dashboard: [],
};

/** Who must receive each floe event type; `null` = terminal, nothing consumes it (a dashboard may later). */
export const CONSUMER_OF: Readonly<Record<string, FunctionName | null>> = {
  [EventType.recordTagged]: 'writer',
  [EventType.batchWritten]: 'auditor',
  [EventType.batchAudited]: 'publisher',
  [EventType.batchPublished]: null,
  [EventType.batchRejected]: null,
};

/** The writer's settings whose consistency with its Trigger and Service is checked. */
export const WRITER: FunctionName = 'writer';
export const WRITER_LINGER_ENV = 'FLOE_BATCH_LINGER_MS';

/** A sample event a function emits, with the extensions the chain carries. */
export function emittedSample(producer: FunctionName, type: string): Record<string, string> {
  return {
    specversion: '1.0',
    id: `sample-${producer}-${type}`,
    source: `/floe/functions/${producer}`,
    type,
    datacontenttype: 'application/json',
    [Extension.partitionKey]: 'car-17',
    [Extension.branch]: 'wap/parking_entry/b-0001',
    [Extension.hash]: '2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d',
    [Extension.batch]: 'b-0001',
    [Extension.table]: 'parking_entry',
    [Extension.topic]: 'parking-entry',
  };
}

/** The event a KafkaSource emits for a plain record of `topic` (NOTES §1.2), with its ceOverrides extensions. */
export function kafkaSample(
  namespace: string,
  source: string,
  topic: string,
  extensions: Record<string, string> = {},
): Record<string, string> {
  return {
    ...extensions,
    specversion: '1.0',
    id: 'partition:0/offset:42',
    source: `/apis/v1/namespaces/${namespace}/kafkasources/${source}#${topic}`,
    type: EventType.kafkaRecord,
    subject: 'partition:0#42',
    datacontenttype: 'application/json',
    key: 'car-17',
    partitionkey: 'car-17',
    knativekafkapartition: '0',
    knativekafkaoffset: '42',
  };
}

/** The event a PingSource emits on a tick (NOTES §3), with its ceOverrides extensions. */
export function pingSample(
  namespace: string,
  source: string,
  contentType: string | undefined,
  extensions: Record<string, string>,
): Record<string, string> {
  return {
    ...extensions,
    specversion: '1.0',
    id: '5d0c0a3a-0000-4000-8000-000000000000',
    source: `/apis/v1/namespaces/${namespace}/pingsources/${source}`,
    type: EventType.ping,
    ...(contentType ? { datacontenttype: contentType } : {}),
  };
}
