/**
 * Tagged records → Iceberg rows: the ingestion-metadata columns every table carries, type inference for payload
 * fields nobody declared (new fields become new optional columns), and value conversion to the table's types. A
 * value that does not fit its column is not dropped silently: the column gets null, the row gets an error and keeps
 * its raw record, and the auditor routes it to `_untrusted` with that reason. The same holds for a record whose shape
 * cannot become columns (nested too deep, unusable field names, more new columns than the batch may add): it is one
 * untrusted row, never a failed batch.
 *
 * Rows and struct values are `bareObject()`s and payload fields are read as own properties only, so fields named
 * `constructor`, `__proto__`, `toString`, … are columns like any other.
 */
import { isList, isMap, isPrimitive, isStruct } from '../iceberg/schema.ts';
import { parseTimestampMicros } from '../iceberg/expressions.ts';
import { uuidToBytes } from '../iceberg/conversions.ts';
import { parquetName } from '../iceberg/parquet-schema.ts';
import type { IcebergType, NestedField, PrimitiveType, Schema, StructType } from '../iceberg/types.ts';
import { parsePipelineConfig, type RecordLimits, type TopicConfig } from '../runtime/pipeline-config.ts';
import type { TaggedRecord } from '../events/contract.ts';
import { bareObject, ownValue } from '../util/bare-object.ts';
import { stringifyJson } from '../util/lossless-json.ts';
import { excerpt, hasControlCharacter } from '../util/strict-json.ts';

/** Ingestion metadata columns, in table order. */
export const Column = {
  ingestedAt: '_ingested_at',
  source: '_source',
  sourceId: '_source_id',
  topic: '_topic',
  partition: '_kafka_partition',
  offset: '_offset',
  key: '_key',
  kafkaTime: '_kafka_time',
  batchId: '_batch_id',
  status: '_status',
  errors: '_errors',
  raw: '_raw',
  headers: '_headers',
  reasons: '_reasons',
} as const;

/**
 * The name earlier floe versions gave `Column.partition`. Spark's Iceberg integration reserves it for a metadata
 * column, so Spark could neither select it nor rewrite the data files; tables that still have it are renamed in place
 * (`withCurrentColumnNames` in table-layout.ts), keeping the field id.
 */
export const LEGACY_PARTITION_COLUMN = '_partition';

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
const stringMap = (): IcebergType => ({
  type: 'map',
  keyId: 0,
  key: 'string',
  valueId: 0,
  valueRequired: true,
  value: 'string',
});

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
    field(Column.headers, stringMap()),
  ];
}

/** The extra column of `_untrusted` tables. */
export function reasonsField(): NestedField {
  return field(Column.reasons, stringList());
}

// The legacy name stays reserved: a payload field `_partition` would be a column Spark cannot read, and a table that
// has it would look like one floe still has to rename.
const INGESTION_NAMES = new Set<string>([...Object.values(Column), LEGACY_PARTITION_COLUMN]);

function isFileRef(value: object): boolean {
  return (
    ownValue(value, 'uri') !== undefined &&
    ownValue(value, 'sha256') !== undefined &&
    ownValue(value, 'size_bytes') !== undefined
  );
}

/** A record whose shape cannot become columns; the message is its reason (`limit: …`). */
export class RecordShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordShapeError';
  }
}

const DEFAULT_LIMITS: RecordLimits = parsePipelineConfig({}).limits;
const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();
const clip = excerpt;

/** A field name that can be a column: not empty, not too long, no control characters, Unicode text. */
function checkFieldName(name: string, path: string, limits: RecordLimits): void {
  const where = path ? ` in '${clip(path, 80)}'` : '';
  if (name.length === 0) throw new RecordShapeError(`an empty field name${where}`);
  if (name.length > limits.maxFieldNameLength)
    throw new RecordShapeError(
      `field name '${clip(name)}'${where} is ${name.length} characters long, over limits.maxFieldNameLength (${limits.maxFieldNameLength})`,
    );
  if (hasControlCharacter(name))
    throw new RecordShapeError(`field name ${JSON.stringify(clip(name))}${where} contains control characters`);
  if (!isWellFormed(name))
    throw new RecordShapeError(
      `field name ${JSON.stringify(clip(name))}${where} contains a lone surrogate (not Unicode text)`,
    );
}

/**
 * The Iceberg type a JSON value suggests; undefined for null, an empty array or an object without typed fields (no
 * evidence). `depth` is the value's nesting level (a payload field's value is level 2); deeper than
 * `limits.maxDepth` or an unusable field name throws `RecordShapeError`, so recursion stays bounded.
 */
export function inferType(
  value: unknown,
  limits: RecordLimits = DEFAULT_LIMITS,
  depth = 2,
  path = '',
): IcebergType | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'bigint') return 'long';
  // An integral double beyond 2^53 (`1e17`) was written as a floating-point number: it stays one.
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'long' : 'double';
  if (typeof value === 'string') return 'string';
  if (typeof value !== 'object') return undefined;
  if (depth > limits.maxDepth)
    throw new RecordShapeError(`nesting deeper than limits.maxDepth (${limits.maxDepth}) at '${clip(path, 80)}'`);
  if (Array.isArray(value)) {
    let element: IcebergType | undefined;
    for (const item of value) {
      const t = inferType(item, limits, depth + 1, `${path}[]`);
      if (!t) continue;
      element = element === undefined ? t : widerOf(element, t);
    }
    return element === undefined ? undefined : { type: 'list', elementId: 0, elementRequired: false, element };
  }
  if (isFileRef(value)) return FILE_TYPE;
  const fields: NestedField[] = [];
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    checkFieldName(name, path, limits);
    const t = inferType(v, limits, depth + 1, path ? `${path}.${name}` : name);
    if (t) fields.push(field(name, t));
  }
  // Parquet cannot write an empty group: an object without typed fields is no evidence, like null.
  return fields.length ? { type: 'struct', fields } : undefined;
}

/** long+double → double; struct ∪ struct by name; list ∪ list by element; anything else keeps the first (the conversion then reports it). */
function widerOf(a: IcebergType, b: IcebergType): IcebergType {
  if (a === b) return a;
  if ((a === 'long' && b === 'double') || (a === 'double' && b === 'long')) return 'double';
  if (isStruct(a) && isStruct(b)) {
    // By name through an index: a batch of wide structs must not cost fields² per record.
    const index = new Map(a.fields.map((f, i) => [f.name, i]));
    let fields: NestedField[] | undefined;
    for (const f of b.fields) {
      const at = index.get(f.name);
      if (at === undefined) {
        fields ??= [...a.fields];
        index.set(f.name, fields.length);
        fields.push(f);
        continue;
      }
      const current = (fields ?? a.fields)[at];
      const merged = widerOf(current.type, f.type);
      if (merged === current.type) continue;
      fields ??= [...a.fields];
      fields[at] = { ...current, type: merged };
    }
    return fields ? { type: 'struct', fields } : a;
  }
  if (isList(a) && isList(b)) {
    const element = widerOf(a.element, b.element);
    return element === a.element ? a : { ...a, element };
  }
  return a;
}

/**
 * The column paths `incoming` adds to `existing` (appended to `added`), or why it cannot: a new field whose Parquet
 * name (`parquetName`) equals a sibling's would make the two indistinguishable in the file.
 */
function newColumns(
  existing: IcebergType | undefined,
  incoming: IcebergType,
  path: string,
  added: string[],
  isColumn = true,
): void {
  if (existing === undefined && isColumn) added.push(path);
  if (isStruct(incoming)) {
    if (existing !== undefined && !isStruct(existing)) return;
    const siblings = existing?.fields ?? [];
    const names = new Map(siblings.map((f) => [f.name, f]));
    // Encoded names only when a field is new (the usual record brings none).
    let encoded: Map<string, string> | undefined;
    for (const f of incoming.fields) {
      const match = names.get(f.name);
      if (!match) {
        encoded ??= new Map(siblings.map((x) => [parquetName(x.name), x.name]));
        const clash = encoded.get(parquetName(f.name));
        if (clash !== undefined)
          throw new RecordShapeError(
            `field '${clip(`${path}.${f.name}`, 80)}' cannot be stored next to '${clip(clash)}' (the same name in Parquet)`,
          );
        encoded.set(parquetName(f.name), f.name);
      }
      newColumns(match?.type, f.type, `${path}.${f.name}`, added);
    }
  } else if (isList(incoming)) {
    if (existing !== undefined && !isList(existing)) return;
    // A list's element is not a column of its own; the fields of struct elements are.
    newColumns(existing?.element, incoming.element, `${path}[]`, added, false);
  }
}

export interface BatchInference {
  /** Ingestion columns, declared fields, then the payload fields the admitted records bring. */
  struct: StructType;
  /** Records whose fields were not admitted, with the reason (`limit: …`): they become untrusted rows. */
  rejected: Map<TaggedRecord, string>;
}

export interface InferenceOptions {
  limits?: RecordLimits;
  /** The table the batch will land in (production): its columns are not new, and new names must not clash with them. */
  base?: StructType;
}

/**
 * The struct a batch of records needs, record by record in batch order: a record is admitted with all its fields or
 * not at all — when its shape cannot become columns, or when its new columns would take the batch past
 * `limits.maxNewColumnsPerBatch`.
 */
export function inferBatch(
  records: TaggedRecord[],
  topic: TopicConfig,
  options: InferenceOptions = {},
): BatchInference {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const fields = ingestionFields();
  const byName = new Map<string, IcebergType>();
  for (const [name, type] of Object.entries(topic.fields)) byName.set(name, type);
  for (const name of topic.binaryFields) byName.set(name, FILE_TYPE);
  if (topic.format === 'text') byName.set('message', 'string');
  if (topic.format === 'binary') byName.set('value', FILE_TYPE);
  const declared = new Set(byName.keys());
  const baseTypes = new Map((options.base?.fields ?? []).map((f) => [f.name, f.type]));
  // Top-level names as Parquet encodes them, for the clash check of new columns.
  const encoded = new Map<string, string>();
  for (const name of [...INGESTION_NAMES, ...byName.keys(), ...baseTypes.keys()]) encoded.set(parquetName(name), name);
  const rejected = new Map<TaggedRecord, string>();
  let newCount = 0;
  for (const record of records) {
    if (!record.payload) continue;
    try {
      const incoming: [string, IcebergType][] = [];
      const added: string[] = [];
      const encodedHere = new Map<string, string>();
      for (const [name, value] of Object.entries(record.payload)) {
        checkFieldName(name, '', limits);
        if (INGESTION_NAMES.has(name) || declared.has(name)) continue;
        const t = inferType(value, limits, 2, name);
        if (!t) continue;
        const inBatch = byName.get(name);
        const inBase = baseTypes.get(name);
        const existing = inBatch && inBase ? widerOf(inBase, inBatch) : (inBatch ?? inBase);
        if (existing === undefined) {
          const key = parquetName(name);
          const clash = encoded.get(key) ?? encodedHere.get(key);
          if (clash !== undefined && clash !== name)
            throw new RecordShapeError(
              `field '${clip(name)}' cannot be stored next to '${clip(clash)}' (the same name in Parquet)`,
            );
          encodedHere.set(key, name);
        }
        newColumns(existing, t, name, added);
        incoming.push([name, t]);
      }
      if (newCount + added.length > limits.maxNewColumnsPerBatch) {
        const shown =
          added
            .slice(0, 5)
            .map((a) => `'${clip(a)}'`)
            .join(', ') + (added.length > 5 ? ', …' : '');
        throw new RecordShapeError(
          `the record brings ${added.length} new column${added.length === 1 ? '' : 's'} (${shown}); this batch already added ${newCount} of limits.maxNewColumnsPerBatch (${limits.maxNewColumnsPerBatch})`,
        );
      }
      newCount += added.length;
      for (const [name, t] of incoming) {
        const existing = byName.get(name);
        byName.set(name, existing === undefined ? t : widerOf(existing, t));
      }
      for (const [key, name] of encodedHere) encoded.set(key, name);
    } catch (err) {
      // Whatever this one record's shape provoked (a RangeError included) rejects the record, not the batch.
      rejected.set(
        record,
        `limit: ${err instanceof RecordShapeError ? err.message : `its fields cannot become columns: ${(err as Error).message}`}`,
      );
    }
  }
  for (const [name, type] of byName) fields.push(field(name, type));
  return { struct: { type: 'struct', fields }, rejected };
}

/** The struct a batch of records needs: ingestion columns, declared fields, then inferred payload fields. */
export function batchStruct(records: TaggedRecord[], topic: TopicConfig): StructType {
  return inferBatch(records, topic).struct;
}

export type Conversion = { ok: true; value: unknown } | { ok: false; error: string };

function describeValue(v: unknown): string {
  if (typeof v === 'string') return `string '${clip(v)}'`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${clip(String(v))}`;
}

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN = -(1n << 63n);
const LONG_MAX = (1n << 63n) - 1n;
const FLOAT_MAX = 3.4028234663852886e38;

function convertPrimitive(type: PrimitiveType, v: unknown): Conversion {
  const fail = (why?: string): Conversion => ({
    ok: false,
    error: why ? `${describeValue(v)} ${why}` : `expected ${type}, got ${describeValue(v)}`,
  });
  switch (type) {
    case 'boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : fail();
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v))
        return v >= INT_MIN && v <= INT_MAX ? { ok: true, value: v } : fail('is outside the range of int');
      if (typeof v === 'bigint')
        return v >= INT_MIN && v <= INT_MAX ? { ok: true, value: Number(v) } : fail('is outside the range of int');
      return fail();
    case 'long':
      // Integral doubles (`1e17`) are exact: they fit a long when in range.
      if (typeof v === 'number' && Number.isInteger(v))
        return v >= -(2 ** 63) && v < 2 ** 63 ? { ok: true, value: BigInt(v) } : fail('is outside the range of long');
      if (typeof v === 'bigint')
        return v >= LONG_MIN && v <= LONG_MAX ? { ok: true, value: v } : fail('is outside the range of long');
      return fail();
    case 'float':
    case 'double': {
      const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
      if (n === undefined) return fail();
      if (!Number.isFinite(n) || (type === 'float' && Math.abs(n) > FLOAT_MAX))
        return fail(`is outside the range of ${type}`);
      return { ok: true, value: n };
    }
    case 'string':
      if (typeof v !== 'string') return fail();
      // Parquet stores UTF-8: a lone surrogate has no encoding and would be replaced by U+FFFD.
      return isWellFormed(v) ? { ok: true, value: v } : fail('contains a lone surrogate (not Unicode text)');
    case 'timestamp':
    case 'timestamptz': {
      let micros: bigint | undefined;
      if (typeof v === 'string') micros = parseTimestampMicros(v);
      // Epoch numbers are taken as milliseconds (what JavaScript and most producers emit).
      else if (typeof v === 'number' && Number.isFinite(v))
        micros = Math.abs(v) < 9.2e15 ? BigInt(Math.round(v * 1000)) : LONG_MAX + 1n;
      else if (typeof v === 'bigint') micros = v * 1000n;
      else return fail();
      if (micros === undefined) return fail();
      return micros >= LONG_MIN && micros <= LONG_MAX
        ? { ok: true, value: micros }
        : fail(`is outside the range of ${type}`);
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
      if (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v))
        return { ok: true, value: Uint8Array.from(Buffer.from(v, 'base64')) };
      if (v instanceof Uint8Array) return { ok: true, value: v };
      return fail();
    default:
      return fail();
  }
}

/** Converts a JSON value to `type`; nested errors name their path. Struct values are bare objects (see the header). */
export function convertValue(type: IcebergType, value: unknown, path: string): Conversion {
  if (value === null || value === undefined) return { ok: true, value: null };
  if (isPrimitive(type)) {
    const result = convertPrimitive(type, value);
    return result.ok ? result : { ok: false, error: `field '${path}': ${result.error}` };
  }
  if (isStruct(type)) {
    if (typeof value !== 'object' || Array.isArray(value))
      return { ok: false, error: `field '${path}': expected an object, got ${describeValue(value)}` };
    const out = bareObject();
    for (const f of type.fields) {
      const converted = convertValue(f.type, ownValue(value, f.name), `${path}.${f.name}`);
      if (!converted.ok) return converted;
      if (converted.value === null && f.required) return { ok: false, error: `field '${path}.${f.name}' is required` };
      out[f.name] = converted.value;
    }
    return { ok: true, value: out };
  }
  if (isList(type)) {
    if (!Array.isArray(value))
      return { ok: false, error: `field '${path}': expected an array, got ${describeValue(value)}` };
    const out: unknown[] = [];
    for (const item of value) {
      const converted = convertValue(type.element, item, `${path}[]`);
      if (!converted.ok) return converted;
      if (converted.value === null && type.elementRequired)
        return { ok: false, error: `field '${path}[]': an element is null` };
      out.push(converted.value);
    }
    return { ok: true, value: out };
  }
  if (typeof value !== 'object' || Array.isArray(value))
    return { ok: false, error: `field '${path}': expected an object (map), got ${describeValue(value)}` };
  const out = new Map<unknown, unknown>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const converted = convertValue(type.value, v, `${path}.${k}`);
    if (!converted.ok) return converted;
    if (converted.value === null && isMap(type) && type.valueRequired)
      return { ok: false, error: `field '${path}.${k}': a map value is null` };
    out.set(k, converted.value);
  }
  return { ok: true, value: out };
}

/**
 * A staging row for a tagged record under `schema`; payload fields that do not fit become errors on the row.
 * `extraErrors` are the writer's own reasons for the record (`limit: …`). Every row keeps the record's bytes and
 * headers, so whichever step untrusts it, the untrusted row holds exactly what Kafka held.
 */
export function stagingRow(
  record: TaggedRecord,
  schema: Schema,
  batchId: string,
  extraErrors: string[] = [],
  nowMicros?: bigint,
): Record<string, unknown> {
  const errors: string[] = [];
  const row = bareObject();
  // Required ingestion columns get a value even from a record whose own is unusable: the row must be writable.
  // Parquet stores strings as UTF-8, where a lone surrogate has no encoding: replaced by U+FFFD, with the reason.
  const text = (value: string, what: string) => {
    if (isWellFormed(value)) return value;
    errors.push(`malformed: the ${what} is not Unicode text (a lone surrogate, stored as U+FFFD)`);
    return (value as unknown as { toWellFormed(): string }).toWellFormed();
  };
  row[Column.ingestedAt] = parseTimestampMicros(record.ingestedAt) ?? nowMicros ?? BigInt(Date.now()) * 1000n;
  row[Column.source] = text(record.source, 'CloudEvent source');
  row[Column.sourceId] = text(record.sourceId, 'CloudEvent id');
  row[Column.topic] = text(record.topic, 'topic');
  row[Column.partition] = record.partition;
  row[Column.offset] = BigInt(record.offset);
  row[Column.key] = record.key === null ? null : text(record.key, 'Kafka key');
  row[Column.kafkaTime] = record.kafkaTime ? (parseTimestampMicros(record.kafkaTime) ?? null) : null;
  row[Column.batchId] = batchId;
  row[Column.status] = record.status;
  if (record.status === 'malformed')
    errors.push(`${record.errorKind ?? 'malformed'}: ${record.error ?? 'unparsable record'}`);
  errors.push(...(record.errors ?? []), ...extraErrors);
  const payload = extraErrors.length ? undefined : record.payload;
  for (const f of schema.fields) {
    if (INGESTION_NAMES.has(f.name)) continue;
    const converted = payload
      ? convertValue(f.type, ownValue(payload, f.name), f.name)
      : { ok: true as const, value: null };
    if (converted.ok) row[f.name] = converted.value;
    else {
      row[f.name] = null;
      errors.push(converted.error);
    }
  }
  for (const name of Object.keys(record.payload ?? {})) {
    if (INGESTION_NAMES.has(name)) errors.push(`field '${name}' collides with an ingestion column and was not stored`);
  }
  const headers = Object.keys(record.headers);
  row[Column.headers] = headers.length
    ? new Map(
        headers.map((name) => [
          text(name, 'Kafka header name'),
          text(record.headers[name], `Kafka header '${excerpt(name)}'`),
        ]),
      )
    : null;
  row[Column.errors] = errors.length ? errors : null;
  row[Column.raw] = rawBytes(record);
  return row;
}

/**
 * The record's original bytes (tagged records carry them); none for a value claim-checked whole (its blob, referenced
 * by the `value` column, is those bytes); a re-serialised payload only for records of taggers before `raw` was kept.
 */
function rawBytes(record: TaggedRecord): Uint8Array | null {
  if (record.raw !== undefined) return Uint8Array.from(Buffer.from(record.raw, 'base64'));
  const payload = record.payload ?? {};
  const value = ownValue(payload, 'value');
  if (Object.keys(payload).length === 1 && value && typeof value === 'object' && isFileRef(value)) return null;
  try {
    return new TextEncoder().encode(stringifyJson(record.payload ?? {}));
  } catch {
    return null;
  }
}
