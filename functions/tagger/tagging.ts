/**
 * The tagger's logic: a KafkaSource event becomes a tagged record — routed to its table, stamped with ingestion
 * metadata, binaries moved out by claim-check — or, when its value cannot be parsed or is over a configured limit
 * (`limits:`), a record marked malformed with the reason, so it still lands (in `_untrusted`) instead of being dropped
 * or failing the request. Every tagged record carries the value's bytes, so whichever step untrusts it keeps them
 * (a value claim-checked whole excepted: its blob is those bytes).
 */
import { imageType } from '../../shared/events/media-type.ts';
import { createHash } from 'node:crypto';
import type { FileIO } from '../../shared/storage/file-io.ts';
import { PreconditionFailedError } from '../../shared/storage/object-store.ts';
import { ownValue, setOwn } from '../../shared/util/bare-object.ts';
import { JsonRecordError, parseJsonStrict } from '../../shared/util/strict-json.ts';
import { topicConfig, type PipelineConfig, type TopicConfig } from '../../shared/runtime/pipeline-config.ts';
import { createEvent, isJsonType, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { EventType, Extension, type FileRef, type TaggedRecord } from '../../shared/events/contract.ts';
import { kafkaRecordOf, type KafkaRecordRef } from './kafka-record.ts';

export class UnroutableRecordError extends Error {
  constructor(topic: string) {
    super(`topic '${topic}' is not configured and routeUnknownTopics is false`);
    this.name = 'UnroutableRecordError';
  }
}

export interface TaggingContext {
  config: PipelineConfig;
  io: FileIO;
  /** Warehouse root (`s3://…/` or `file:///…/`), where blobs are stored under the claim-check prefix. */
  warehouse: string;
  now?: () => Date;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** The record's own fault: it is tagged malformed with this reason (a limit, or a value that is not what it must be). */
class MalformedError extends Error {
  constructor(
    message: string,
    readonly kind: 'malformed' | 'limit' = 'malformed',
  ) {
    super(message);
  }
}

/** The blob store failed: not the record's fault, so the request fails and is retried. */
class BlobStoreError extends Error {}

/** Decodes a binary field value: a data URL, a base64 string, or an array of byte values. */
function binaryValue(field: string, value: unknown): { bytes: Uint8Array; contentType?: string } {
  if (typeof value === 'string') {
    const dataUrl = /^data:([^;,]+)?(;base64)?,(.*)$/s.exec(value);
    if (dataUrl) {
      if (!dataUrl[2]) throw new MalformedError(`field '${field}': only base64 data URLs are accepted`);
      return { bytes: decodeBase64(field, dataUrl[3]), ...(dataUrl[1] ? { contentType: dataUrl[1] } : {}) };
    }
    return { bytes: decodeBase64(field, value) };
  }
  if (Array.isArray(value) && value.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b < 256)) {
    return { bytes: Uint8Array.from(value as number[]) };
  }
  throw new MalformedError(
    `field '${field}': expected base64 or an array of bytes, got ${Array.isArray(value) ? 'an array' : typeof value}`,
  );
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(field: string, text: string): Uint8Array {
  // Most values carry no whitespace: checking first spares a copy of the whole (often image-sized) string.
  let clean = text;
  if (!BASE64.test(clean)) {
    clean = text.replace(/\s+/g, '');
    if (clean.length === text.length || !BASE64.test(clean))
      throw new MalformedError(`field '${field}': not valid base64`);
  }
  if (clean.length % 4 === 1) throw new MalformedError(`field '${field}': not valid base64`);
  // The Buffer is the blob's bytes as they are: hashed, written and maybe inlined, never changed, so not copied.
  return Buffer.from(clean, /[-_]/.test(clean) ? 'base64url' : 'base64');
}

/** A Buffer over the same memory (no copy), for base64 encoding. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * An existing blob older than this is written again rather than reused: the fresh copy is younger than the janitor's
 * orphan grace period (3 days by default), so a blob no row referenced any more cannot be deleted under a new row.
 */
const BLOB_REFRESH_AGE_MS = 86_400_000;

/**
 * Writes a blob unless it is there and young. Most blobs are new, so the write comes first, as a create-if-absent:
 * one request on S3 instead of a HEAD and a PUT (and the SDK's missing-key HEAD alone costs more CPU than the PUT).
 * Only a blob that is already there is looked at, to refresh it when it is old.
 */
async function writeBlobOnce(ctx: TaggingContext, uri: string, bytes: Uint8Array, contentType: string): Promise<void> {
  try {
    await ctx.io.write(uri, bytes, { contentType, ifNoneMatch: '*' });
    return;
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  const existing = await ctx.io.head(uri);
  const now = (ctx.now?.() ?? new Date()).getTime();
  if (!existing || now - existing.lastModified.getTime() > BLOB_REFRESH_AGE_MS)
    await ctx.io.write(uri, bytes, { contentType });
}

/** Stores a binary under the warehouse blob prefix, content-addressed (a redelivery finds the same object). */
export async function storeBlob(
  ctx: TaggingContext,
  table: string,
  bytes: Uint8Array,
  contentType?: string,
): Promise<FileRef> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const type = contentType ?? imageType(bytes) ?? 'application/octet-stream';
  const uri = `${ctx.warehouse}${ctx.config.claimCheck.prefix}${table}/${sha256.slice(0, 2)}/${sha256}`;
  await writeBlobOnce(ctx, uri, bytes, type);
  return {
    uri,
    size_bytes: bytes.byteLength,
    content_type: type,
    sha256,
    ...(bytes.byteLength <= ctx.config.claimCheck.inlineMaxBytes ? { inline: bufferOf(bytes).toString('base64') } : {}),
  };
}

async function storeBlobOf(
  ctx: TaggingContext,
  table: string,
  bytes: Uint8Array,
  contentType?: string,
): Promise<FileRef> {
  try {
    return await storeBlob(ctx, table, bytes, contentType);
  } catch (err) {
    throw new BlobStoreError((err as Error).message, { cause: err });
  }
}

interface Parsed {
  payload: Record<string, unknown>;
  /** Values that no column type can hold (nulled). */
  problems: string[];
  /** The whole value went to the blob store (the `value` column refers to exactly its bytes). */
  wholeValueStored?: boolean;
}

async function parsePayload(ctx: TaggingContext, topic: TopicConfig, record: KafkaRecordRef): Promise<Parsed> {
  if (
    topic.format === 'binary' ||
    (record.contentType && !isJsonType(record.contentType) && !record.contentType.startsWith('text/'))
  ) {
    return {
      payload: { value: await storeBlobOf(ctx, topic.table, record.value, record.contentType) },
      problems: [],
      wholeValueStored: true,
    };
  }
  const { limits } = ctx.config;
  if (record.value.byteLength > limits.maxRecordBytes) {
    throw new MalformedError(
      `the value has ${record.value.byteLength} bytes, over limits.maxRecordBytes (${limits.maxRecordBytes})`,
      'limit',
    );
  }
  let text: string;
  try {
    // A UTF-8 byte order mark is dropped here (RFC 8259 lets parsers ignore it); `_raw` keeps it.
    text = textDecoder.decode(record.value);
  } catch {
    throw new MalformedError('value is not valid UTF-8');
  }
  if (topic.format === 'text') {
    if (text.length > limits.maxStringLength)
      throw new MalformedError(
        `a text of ${text.length} characters, over limits.maxStringLength (${limits.maxStringLength})`,
        'limit',
      );
    return { payload: { message: text }, problems: [] };
  }
  let parsed;
  try {
    parsed = parseJsonStrict(text, limits, { longStringFields: new Set(topic.binaryFields) });
  } catch (err) {
    if (!(err instanceof JsonRecordError)) throw err;
    throw new MalformedError(err.kind === 'limit' ? err.message : `value is not valid JSON: ${err.message}`, err.kind);
  }
  const payload = parsed.value;
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new MalformedError(
      `value is JSON but not an object (got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload})`,
    );
  }
  const object = payload as Record<string, unknown>;
  for (const field of topic.binaryFields) {
    const value = ownValue(object, field);
    if (value === undefined || value === null) continue;
    const { bytes, contentType } = binaryValue(field, value);
    setOwn(object, field, await storeBlobOf(ctx, topic.table, bytes, contentType));
  }
  return { payload: object, problems: parsed.problems };
}

/** The same record, as malformed with `reason` (its payload dropped; its raw bytes stay). */
export function malformedRecord(
  record: Omit<TaggedRecord, 'status'>,
  reason: string,
  kind: 'malformed' | 'limit' = 'malformed',
): TaggedRecord {
  const { payload: _payload, errors: _errors, ...rest } = record;
  return { ...rest, status: 'malformed', error: reason, ...(kind === 'limit' ? { errorKind: kind } : {}) };
}

/** Tags one KafkaSource event. Throws `InvalidEventError` when it carries no Kafka coordinates. */
export async function tagRecord(ctx: TaggingContext, event: CloudEventMessage): Promise<TaggedRecord> {
  const record = kafkaRecordOf(event);
  const topic = topicConfig(ctx.config, record.topic);
  if (!topic) throw new UnroutableRecordError(record.topic);
  const base = {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset.toString(),
    key: record.key,
    kafkaTime: record.time,
    ingestedAt: (ctx.now?.() ?? new Date()).toISOString(),
    source: record.source,
    sourceId: record.id,
    table: topic.table,
    headers: record.headers,
  };
  const raw = () => bufferOf(record.value).toString('base64');
  try {
    const { payload, problems, wholeValueStored } = await parsePayload(ctx, topic, record);
    // A value claim-checked whole is in its blob, byte for byte: the record need not carry it a second time.
    return {
      ...base,
      ...(wholeValueStored ? {} : { raw: raw() }),
      status: 'ok',
      payload,
      ...(problems.length ? { errors: problems } : {}),
    };
  } catch (err) {
    if (err instanceof BlobStoreError) throw err.cause;
    if (err instanceof MalformedError) return malformedRecord({ ...base, raw: raw() }, err.message, err.kind);
    // Anything else this one value provoked is still the record's problem, not the topic's: it lands untrusted.
    return malformedRecord({ ...base, raw: raw() }, `could not be tagged: ${(err as Error).message}`);
  }
}

/**
 * The tagged event: deterministic id per Kafka coordinate (redeliveries produce the same id), keyed (`partitionkey`)
 * by the source topic and partition. The Kafka Broker partitions its topic by that key, so a source partition's
 * records stay in one Broker partition, in about the order they were read, and the writer's batches hold nearly
 * contiguous offset ranges. Keyed by the record's own key, a source partition's records were spread over every Broker
 * partition, whose consumers move at their own pace: batches then interleaved offsets, and a publish left more
 * offset holes than `main`'s summary keeps (../../shared/wap/kafka-offsets.ts), so records of a later batch in a
 * closed hole were dropped as replays. A key still maps to one source partition, so its records keep their order.
 */
export function taggedEvent(record: TaggedRecord): CloudEventMessage {
  return createEvent({
    type: EventType.recordTagged,
    source: '/floe/tagger',
    id: `${record.topic}/${record.partition}/${record.offset}`,
    subject: record.table,
    data: record,
    extensions: {
      [Extension.partitionKey]: `${record.topic}-${record.partition}`,
      [Extension.table]: record.table,
      [Extension.topic]: record.topic,
    },
  });
}
