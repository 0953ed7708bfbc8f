/**
 * The event contract of the Write-Audit-Publish chain: CloudEvent types, extension names, and the payloads, defined
 * once with zod and validated at every function's door. 64-bit values (Kafka offsets, snapshot ids) travel as
 * decimal strings in payloads and extensions.
 */
import { z } from 'zod';
import { InvalidEventError, eventJson, type CloudEventMessage } from './cloudevent.ts';

export const EventType = {
  kafkaRecord: 'dev.knative.kafka.event',
  ping: 'dev.knative.sources.ping',
  recordTagged: 'dev.floe.record.tagged',
  batchWritten: 'dev.floe.batch.written',
  batchAudited: 'dev.floe.batch.audited',
  batchPublished: 'dev.floe.batch.published',
  batchRejected: 'dev.floe.batch.rejected',
} as const;

/** Extension attributes the chain sets (CloudEvents names: `[a-z0-9]+`). */
export const Extension = {
  branch: 'nessiebranch',
  hash: 'nessiehash',
  batch: 'floebatch',
  table: 'floetable',
  topic: 'floetopic',
  /** Set by each KafkaSource (ceOverrides) on every record it forwards: the Kafka topic, also for CloudEvent records. */
  kafkaTopic: 'floekafkatopic',
  job: 'floejob',
  partitionKey: 'partitionkey',
} as const;

const decimal = z.string().regex(/^\d+$/, 'must be a non-negative decimal integer string');

/** Binary payloads are replaced by this struct (Parquet's FILE logical type shape). */
export const fileRefSchema = z.object({
  uri: z.string(),
  size_bytes: z.number().int().nonnegative(),
  content_type: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Small payloads stay inline, base64. */
  inline: z.string().optional(),
});
export type FileRef = z.infer<typeof fileRefSchema>;

/**
 * A parsed JSON object, taken as it is: not copied field by field (zod's record schema would copy every payload and
 * silently drop a field named `__proto__`).
 */
const jsonObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
);

export const taggedRecordSchema = z.object({
  topic: z.string().min(1),
  /** Kafka partitions are int32 and offsets int64, as the `_kafka_partition` and `_offset` columns store them. */
  partition: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1),
  offset: decimal.refine((text) => text.length < 19 || BigInt(text) < 2n ** 63n, 'must fit a signed 64-bit integer'),
  key: z.string().nullable(),
  /** The Kafka record time (KafkaSource `time`). */
  kafkaTime: z.string().nullable(),
  ingestedAt: z.string(),
  /** The CloudEvent source/id the record arrived with. */
  source: z.string(),
  sourceId: z.string(),
  /** Base table name from the pipeline config. */
  table: z.string(),
  status: z.enum(['ok', 'malformed']),
  /** Why the record is malformed. */
  error: z.string().optional(),
  /** What kind of problem `error` is: the value is not (unambiguous) JSON, or it is over a configured limit. */
  errorKind: z.enum(['malformed', 'limit']).optional(),
  /** The parsed payload (binaries replaced by FileRef objects); absent when malformed. */
  payload: jsonObject.optional(),
  /**
   * Values of the payload no column type can hold (`field 'latitude': number 1e400 is outside the range of a
   * double`): nulled in the payload, and the record goes to `_untrusted` with these reasons.
   */
  errors: z.array(z.string()).optional(),
  /**
   * The record value's bytes, base64, so an untrusted row keeps exactly what Kafka held: set for every record but one
   * whose whole value was claim-checked (its `value` blob is those bytes).
   */
  raw: z.string().optional(),
  headers: z.record(z.string(), z.string()).default({}),
});
export type TaggedRecord = z.infer<typeof taggedRecordSchema>;

/** Per Kafka partition, the offset ranges (inclusive) a batch holds. */
export const offsetRangesSchema = z.record(z.string(), z.array(z.tuple([decimal, decimal])));

export const batchWrittenSchema = z.object({
  batchId: z.string(),
  branch: z.string(),
  hash: z.string(),
  topic: z.string(),
  table: z.string(),
  rows: z.number().int().nonnegative(),
  offsets: offsetRangesSchema,
  writtenAt: z.string(),
});
export type BatchWritten = z.infer<typeof batchWrittenSchema>;

export const batchAuditedSchema = z.object({
  batchId: z.string(),
  branch: z.string(),
  hash: z.string(),
  topic: z.string(),
  table: z.string(),
  verdict: z.enum(['passed', 'failed']),
  reason: z.string().optional(),
  trusted: z.number().int().nonnegative(),
  untrusted: z.number().int().nonnegative(),
  /** Count of untrusted rows by reason. */
  reasons: z.record(z.string(), z.number().int()),
  offsets: offsetRangesSchema,
  auditedAt: z.string(),
});
export type BatchAudited = z.infer<typeof batchAuditedSchema>;

export const batchPublishedSchema = z.object({
  batchId: z.string(),
  topic: z.string(),
  table: z.string(),
  /** main's commit that made the batch visible. */
  hash: z.string(),
  trusted: z.number().int().nonnegative(),
  untrusted: z.number().int().nonnegative(),
  /** Rows dropped because their Kafka coordinates were already on main (replays). */
  duplicates: z.number().int().nonnegative(),
  /** How the publish landed: a Nessie merge, an Iceberg-level rebase, or nothing new (already published). */
  method: z.enum(['merge', 'rebase', 'noop']),
  publishedAt: z.string(),
});
export type BatchPublished = z.infer<typeof batchPublishedSchema>;

export const batchRejectedSchema = z.object({
  batchId: z.string(),
  topic: z.string(),
  table: z.string(),
  branch: z.string(),
  hash: z.string(),
  reason: z.string(),
  untrusted: z.number().int().nonnegative(),
  rejectedAt: z.string(),
});
export type BatchRejected = z.infer<typeof batchRejectedSchema>;

/** Validates an event's JSON data against its payload schema; throws `InvalidEventError` (→ 400) with the reason. */
export function payloadOf<T>(event: CloudEventMessage, schema: z.ZodType<T>): T {
  const data = eventJson(event);
  const result = schema.safeParse(data);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ');
    throw new InvalidEventError(`${event.attributes.type} ${event.attributes.id} has an invalid payload: ${issues}`);
  }
  return result.data;
}

export function expectType(event: CloudEventMessage, ...types: string[]): void {
  if (!types.includes(event.attributes.type)) {
    throw new InvalidEventError(
      `unexpected event type ${event.attributes.type}; this function takes ${types.join(' or ')}`,
    );
  }
}
