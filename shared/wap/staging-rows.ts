/**
 * Tagged records → Iceberg rows: the ingestion-metadata columns every table carries, type inference for payload
 * fields nobody declared (new fields become new optional columns), and value conversion to the table's types. A
 * value that does not fit its column is not dropped silently: the column gets null, the row gets an error and keeps
 * its raw record, and the auditor routes it to `_untrusted` with that reason.
 */
import { isList, isPrimitive, isStruct } from '../iceberg/schema.ts';
import { parseTimestampMicros } from '../iceberg/expressions.ts';
import { uuidToBytes } from '../iceberg/conversions.ts';
import type { IcebergType, NestedField, PrimitiveType, Schema, StructType } from '../iceberg/types.ts';
import type { TopicConfig } from '../runtime/pipeline-config.ts';
import type { TaggedRecord } from '../events/contract.ts';
import { stringifyJson } from '../util/lossless-json.ts';

/** Ingestion metadata columns, in table order. */
export const Column = {
  ingestedAt: '_ingested_at',
  source: '_source',
  sourceId: '_source_id',
  topic: '_topic',
  partition: '_partition',
  offset: '_offset',
  key: '_key',
  kafkaTime: '_kafka_time',
  batchId: '_batch_id',
  status: '_status',
  errors: '_errors',
  raw: '_raw',
  reasons: '_reasons',
} as const;

const field = (name: string, type: IcebergType, required = false): NestedField => ({ id: 0, name, required, type });

/** The claim-check struct (Parquet's FILE logical type shape). */
export const FILE_TYPE: StructType = {
  type: 'struct',
  fields: [
    field('uri', 'string', true),
    field('size_bytes', 'long', true),
    field('content_type', 'string'),
    field('sha256', 'string'),
    field('inline', 'binary'),
  ],
};

const stringList = (): IcebergType => ({ type: 'list', elementId: 0, elementRequired: true, element: 'string' });

export function ingestionFields(): NestedField[] {
  return [
    field(Column.ingestedAt, 'timestamptz', true),
    field(Column.source, 'string'),
    field(Column.sourceId, 'string'),
    field(Column.topic, 'string', true),
    field(Column.partition, 'int', true),
    field(Column.offset, 'long', true),
    field(Column.key, 'string'),
    field(Column.kafkaTime, 'timestamptz'),
    field(Column.batchId, 'string'),
    field(Column.status, 'string', true),
    field(Column.errors, stringList()),
    field(Column.raw, 'binary'),
  ];
}

/** The extra column of `_untrusted` tables. */
export function reasonsField(): NestedField {
  return field(Column.reasons, stringList());
}

const INGESTION_NAMES = new Set<string>(Object.values(Column));

function isFileRef(value: unknown): boolean {
  return Boolean(value && typeof value === 'object' && !Array.isArray(value) && 'uri' in value && 'sha256' in value && 'size_bytes' in value);
}

/** The Iceberg type a JSON value suggests; undefined for null or an empty array (no evidence). */
export function inferType(value: unknown): IcebergType | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'bigint') return 'long';
  if (typeof value === 'number') return Number.isInteger(value) ? 'long' : 'double';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) {
    let element: IcebergType | undefined;
    for (const item of value) {
      const t = inferType(item);
      if (!t) continue;
      element = element === undefined ? t : widerOf(element, t);
    }
    return element === undefined ? undefined : { type: 'list', elementId: 0, elementRequired: false, element };
  }
  if (isFileRef(value)) return FILE_TYPE;
  const fields: NestedField[] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const t = inferType(v);
    if (t) fields.push(field(name, t));
  }
  return { type: 'struct', fields };
}

/** long+double → double; struct ∪ struct by name; anything else keeps the first (the conversion then reports it). */
function widerOf(a: IcebergType, b: IcebergType): IcebergType {
  if (a === b) return a;
  if ((a === 'long' && b === 'double') || (a === 'double' && b === 'long')) return 'double';
  if (isStruct(a) && isStruct(b)) {
    const fields = [...a.fields];
    for (const f of b.fields) {
      const existing = fields.findIndex((x) => x.name === f.name);
      if (existing < 0) fields.push(f);
      else fields[existing] = { ...fields[existing], type: widerOf(fields[existing].type, f.type) };
    }
    return { type: 'struct', fields };
  }
  return a;
}

/** The struct a batch of records needs: ingestion columns, declared fields, then inferred payload fields. */
export function batchStruct(records: TaggedRecord[], topic: TopicConfig): StructType {
  const fields = ingestionFields();
  const byName = new Map<string, IcebergType>();
  for (const [name, type] of Object.entries(topic.fields)) byName.set(name, type);
  for (const name of topic.binaryFields) byName.set(name, FILE_TYPE);
  if (topic.format === 'text') byName.set('message', 'string');
  if (topic.format === 'binary') byName.set('value', FILE_TYPE);
  const declared = new Set(byName.keys());
  for (const record of records) {
    for (const [name, value] of Object.entries(record.payload ?? {})) {
      if (INGESTION_NAMES.has(name) || declared.has(name)) continue;
      const t = inferType(value);
      if (!t) continue;
      const existing = byName.get(name);
      byName.set(name, existing === undefined ? t : widerOf(existing, t));
    }
  }
  for (const [name, type] of byName) fields.push(field(name, type));
  return { type: 'struct', fields };
}

export type Conversion = { ok: true; value: unknown } | { ok: false; error: string };

const describeValue = (v: unknown) => (typeof v === 'string' ? `string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'` : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`);

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN = -(1n << 63n);
const LONG_MAX = (1n << 63n) - 1n;

function convertPrimitive(type: PrimitiveType, v: unknown): Conversion {
  const fail = (): Conversion => ({ ok: false, error: `expected ${type}, got ${describeValue(v)}` });
  switch (type) {
    case 'boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : fail();
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v) && v >= INT_MIN && v <= INT_MAX) return { ok: true, value: v };
      if (typeof v === 'bigint' && v >= INT_MIN && v <= INT_MAX) return { ok: true, value: Number(v) };
      return fail();
    case 'long':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return { ok: true, value: BigInt(v) };
      if (typeof v === 'bigint' && v >= LONG_MIN && v <= LONG_MAX) return { ok: true, value: v };
      return fail();
    case 'float':
    case 'double':
      if (typeof v === 'number') return { ok: true, value: v };
      if (typeof v === 'bigint') return { ok: true, value: Number(v) };
      return fail();
    case 'string':
      return typeof v === 'string' ? { ok: true, value: v } : fail();
    case 'timestamp':
    case 'timestamptz': {
      if (typeof v === 'string') {
        const micros = parseTimestampMicros(v);
        return micros === undefined ? fail() : { ok: true, value: micros };
      }
      // Epoch numbers are taken as milliseconds (what JavaScript and most producers emit).
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: BigInt(Math.round(v * 1000)) };
      if (typeof v === 'bigint') return { ok: true, value: v * 1000n };
      return fail();
    }
    case 'date':
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`))) {
        return { ok: true, value: Math.floor(Date.parse(`${v}T00:00:00Z`) / 86_400_000) };
      }
      return fail();
    case 'uuid':
      if (typeof v === 'string') {
        try {
          uuidToBytes(v);
          return { ok: true, value: v.toLowerCase() };
        } catch {
          return fail();
        }
      }
      return fail();
    case 'binary':
      if (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v)) return { ok: true, value: Uint8Array.from(Buffer.from(v, 'base64')) };
      if (v instanceof Uint8Array) return { ok: true, value: v };
      return fail();
    default:
      return fail();
  }
}

/** Converts a JSON value to `type`; nested errors name their path. */
export function convertValue(type: IcebergType, value: unknown, path: string): Conversion {
  if (value === null || value === undefined) return { ok: true, value: null };
  if (isPrimitive(type)) {
    const result = convertPrimitive(type, value);
    return result.ok ? result : { ok: false, error: `field '${path}': ${result.error}` };
  }
  if (isStruct(type)) {
    if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: `field '${path}': expected an object, got ${describeValue(value)}` };
    const out: Record<string, unknown> = {};
    for (const f of type.fields) {
      const converted = convertValue(f.type, (value as Record<string, unknown>)[f.name], `${path}.${f.name}`);
      if (!converted.ok) return converted;
      if (converted.value === null && f.required) return { ok: false, error: `field '${path}.${f.name}' is required` };
      out[f.name] = converted.value;
    }
    return { ok: true, value: out };
  }
  if (isList(type)) {
    if (!Array.isArray(value)) return { ok: false, error: `field '${path}': expected an array, got ${describeValue(value)}` };
    const out: unknown[] = [];
    for (const item of value) {
      const converted = convertValue(type.element, item, `${path}[]`);
      if (!converted.ok) return converted;
      out.push(converted.value);
    }
    return { ok: true, value: out };
  }
  if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: `field '${path}': expected an object (map), got ${describeValue(value)}` };
  const out = new Map<unknown, unknown>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const converted = convertValue(type.value, v, `${path}.${k}`);
    if (!converted.ok) return converted;
    out.set(k, converted.value);
  }
  return { ok: true, value: out };
}

/** A staging row for a tagged record under `schema`; payload fields that do not fit become errors on the row. */
export function stagingRow(record: TaggedRecord, schema: Schema, batchId: string): Record<string, unknown> {
  const errors: string[] = [];
  const row: Record<string, unknown> = {
    [Column.ingestedAt]: parseTimestampMicros(record.ingestedAt) ?? null,
    [Column.source]: record.source,
    [Column.sourceId]: record.sourceId,
    [Column.topic]: record.topic,
    [Column.partition]: record.partition,
    [Column.offset]: BigInt(record.offset),
    [Column.key]: record.key,
    [Column.kafkaTime]: record.kafkaTime ? parseTimestampMicros(record.kafkaTime) ?? null : null,
    [Column.batchId]: batchId,
    [Column.status]: record.status,
  };
  if (record.status === 'malformed') errors.push(`malformed: ${record.error ?? 'unparsable record'}`);
  const payload = record.payload ?? {};
  for (const f of schema.fields) {
    if (INGESTION_NAMES.has(f.name)) continue;
    const converted = convertValue(f.type, payload[f.name], f.name);
    if (converted.ok) row[f.name] = converted.value;
    else {
      row[f.name] = null;
      errors.push(converted.error);
    }
  }
  for (const name of Object.keys(payload)) {
    if (INGESTION_NAMES.has(name)) errors.push(`field '${name}' collides with an ingestion column and was not stored`);
  }
  row[Column.errors] = errors.length ? errors : null;
  row[Column.raw] = errors.length ? rawBytes(record) : null;
  return row;
}

/** The record's original bytes: kept verbatim when malformed, else its payload as JSON. */
function rawBytes(record: TaggedRecord): Uint8Array {
  if (record.raw !== undefined) return Uint8Array.from(Buffer.from(record.raw, 'base64'));
  return new TextEncoder().encode(stringifyJson(record.payload ?? {}));
}
