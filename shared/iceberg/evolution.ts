/**
 * Schema evolution: additive changes — new optional columns (also nested), type widening (int→long, float→double,
 * decimal precision), required→optional — and the rename of a top-level column. Nothing is ever dropped here; an
 * incompatible change is reported, not applied, so the caller can route the offending rows elsewhere. And partition
 * evolution: a new default spec, under which new files are written while old files keep theirs.
 */
import { BLOOM_ENABLED_PREFIX, BLOOM_FPP_PREFIX } from './bloom-filter.ts';
import { METRICS_COLUMN_PREFIX } from './column-metrics.ts';
import { specsEquivalent } from './partition.ts';
import { parseTransform, transformToString } from './transforms.ts';
import { decimalOf, isList, isMap, isPrimitive, isStruct } from './schema.ts';
import type {
  IcebergType,
  ListType,
  MapType,
  NestedField,
  PartitionField,
  PartitionSpec,
  PrimitiveType,
  Schema,
  StructType,
  TableMetadata,
} from './types.ts';

/** Whether a column of type `from` may be changed to `to` (Iceberg's allowed promotions, v2). */
export function canPromote(from: PrimitiveType, to: PrimitiveType): boolean {
  if (from === to) return true;
  if (from === 'int' && to === 'long') return true;
  if (from === 'float' && to === 'double') return true;
  const a = decimalOf(from);
  const b = decimalOf(to);
  return Boolean(a && b && a.scale === b.scale && b.precision >= a.precision);
}

/** Gives every field of a type fresh ids from `next` (which is advanced), depth first like Java's `TypeUtil.assignFreshIds`. */
export function assignFreshIds<T extends IcebergType>(type: T, next: { value: number }): T {
  if (isStruct(type)) {
    const ids = type.fields.map(() => ++next.value);
    return {
      type: 'struct',
      fields: type.fields.map((f, i) => ({ ...f, id: ids[i], type: assignFreshIds(f.type, next) })),
    } as T;
  }
  if (isList(type)) {
    const elementId = ++next.value;
    return { ...(type as ListType), elementId, element: assignFreshIds(type.element, next) } as T;
  }
  if (isMap(type)) {
    const keyId = ++next.value;
    const valueId = ++next.value;
    return {
      ...(type as MapType),
      keyId,
      valueId,
      key: assignFreshIds(type.key, next),
      value: assignFreshIds(type.value, next),
    } as T;
  }
  return type;
}

export interface Incompatibility {
  path: string;
  existing: string;
  incoming: string;
}

export interface UnionResult {
  schema: Schema;
  lastColumnId: number;
  /** Human-readable list of what changed (empty when the schema is unchanged). */
  changes: string[];
  incompatible: Incompatibility[];
}

const describe = (type: IcebergType): string => (isPrimitive(type) ? type : type.type);

/**
 * Merges `incoming` (ids ignored) into `base` by field name. Existing columns keep their ids; new ones get ids above
 * `lastColumnId`. Narrower incoming types (int into a long column) are accepted as they are.
 */
export function unionByName(base: Schema, incoming: StructType, lastColumnId: number): UnionResult {
  const next = { value: lastColumnId };
  const changes: string[] = [];
  const incompatible: Incompatibility[] = [];

  const mergeType = (existing: IcebergType, update: IcebergType, path: string): IcebergType => {
    if (isPrimitive(existing) && isPrimitive(update)) {
      if (existing === update || canPromote(update, existing)) return existing;
      if (canPromote(existing, update)) {
        changes.push(`widen ${path} ${existing} → ${update}`);
        return update;
      }
      incompatible.push({ path, existing, incoming: update });
      return existing;
    }
    if (isStruct(existing) && isStruct(update)) return mergeStruct(existing, update, path);
    if (isList(existing) && isList(update)) {
      const element = mergeType(existing.element, update.element, `${path}.element`);
      const elementRequired = existing.elementRequired && update.elementRequired;
      if (elementRequired !== existing.elementRequired) changes.push(`make ${path}.element optional`);
      return { ...existing, element, elementRequired };
    }
    if (isMap(existing) && isMap(update)) {
      const key = mergeType(existing.key, update.key, `${path}.key`);
      const value = mergeType(existing.value, update.value, `${path}.value`);
      const valueRequired = existing.valueRequired && update.valueRequired;
      if (valueRequired !== existing.valueRequired) changes.push(`make ${path}.value optional`);
      return { ...existing, key, value, valueRequired };
    }
    incompatible.push({ path, existing: describe(existing), incoming: describe(update) });
    return existing;
  };

  const mergeStruct = (existing: StructType, update: StructType, prefix: string): StructType => {
    const fields: NestedField[] = existing.fields.map((field) => {
      const match = update.fields.find((f) => f.name === field.name);
      if (!match) return field;
      const path = prefix ? `${prefix}.${field.name}` : field.name;
      const type = mergeType(field.type, match.type, path);
      const required = field.required && match.required;
      if (field.required && !required) changes.push(`make ${path} optional`);
      return type === field.type && required === field.required ? field : { ...field, type, required };
    });
    for (const field of update.fields) {
      if (existing.fields.some((f) => f.name === field.name)) continue;
      const path = prefix ? `${prefix}.${field.name}` : field.name;
      const id = ++next.value;
      fields.push({ ...field, id, required: false, type: assignFreshIds(field.type, next) });
      changes.push(`add ${path} ${describe(field.type)}`);
    }
    return { type: 'struct', fields };
  };

  const merged = mergeStruct(base, incoming, '');
  return {
    schema: changes.length
      ? {
          ...merged,
          schemaId: base.schemaId,
          ...(base.identifierFieldIds ? { identifierFieldIds: base.identifierFieldIds } : {}),
        }
      : base,
    lastColumnId: next.value,
    changes,
    incompatible,
  };
}

function sameStruct(a: StructType, b: StructType): boolean {
  return JSON.stringify(a.fields) === JSON.stringify(b.fields);
}

/**
 * Makes `schema` the table's current schema: reuses an identical existing schema's id, or appends it with a new id.
 * `lastColumnId` never decreases.
 */
export function setCurrentSchema(metadata: TableMetadata, schema: Schema, lastColumnId: number): TableMetadata {
  const existing = metadata.schemas.find((s) => sameStruct(s, schema));
  const lastColumn = Math.max(metadata.lastColumnId, lastColumnId);
  if (existing) {
    return existing.schemaId === metadata.currentSchemaId && lastColumn === metadata.lastColumnId
      ? metadata
      : { ...metadata, currentSchemaId: existing.schemaId, lastColumnId: lastColumn };
  }
  const schemaId = Math.max(...metadata.schemas.map((s) => s.schemaId)) + 1;
  return {
    ...metadata,
    schemas: [...metadata.schemas, { ...schema, schemaId }],
    currentSchemaId: schemaId,
    lastColumnId: lastColumn,
  };
}

/** Table properties that name a column in their key: they follow the column when it is renamed. */
const COLUMN_PROPERTY_PREFIXES = [METRICS_COLUMN_PREFIX, BLOOM_ENABLED_PREFIX, BLOOM_FPP_PREFIX];

/**
 * Renames the top-level column `from` to `to` as Iceberg renames: the field keeps its id (and type), the table gets a
 * new current schema and the old one stays for the snapshots written under it. Data files resolve columns by field
 * id, so nothing is rewritten. Per-column table properties move to the new name (a property already set for `to`
 * wins). The metadata is returned unchanged when the current schema has no `from`; a `to` that already exists is an
 * error, as two columns cannot share a name.
 */
export function renameColumn(metadata: TableMetadata, from: string, to: string): TableMetadata {
  const schema = metadata.schemas.find((s) => s.schemaId === metadata.currentSchemaId);
  if (!schema)
    throw new Error(`table at ${metadata.location}: current-schema-id ${metadata.currentSchemaId} has no schema`);
  if (!schema.fields.some((f) => f.name === from)) return metadata;
  if (schema.fields.some((f) => f.name === to))
    throw new Error(`table at ${metadata.location}: cannot rename column '${from}' to '${to}', which exists`);
  const renamed: Schema = { ...schema, fields: schema.fields.map((f) => (f.name === from ? { ...f, name: to } : f)) };
  const next = setCurrentSchema(metadata, renamed, metadata.lastColumnId);
  const properties: Record<string, string> = { ...next.properties };
  let moved = false;
  for (const prefix of COLUMN_PROPERTY_PREFIXES) {
    const value = properties[prefix + from];
    if (value === undefined) continue;
    delete properties[prefix + from];
    properties[prefix + to] ??= value;
    moved = true;
  }
  return moved ? { ...next, properties } : next;
}

/**
 * Makes `spec` the table's default spec, as Java's `UpdatePartitionSpec` commits one on a v2 table: an equivalent
 * spec the table already has is reused by id; otherwise the spec is added with the next spec id. A partition field
 * that some spec of the table already had (same source column and transform) keeps that field's id, so engines see
 * one partition column across the specs; a field new to the table gets the id after `last-partition-id`. Data files
 * are not rewritten: each keeps the spec id it was written under.
 */
export function setDefaultSpec(metadata: TableMetadata, spec: PartitionSpec): TableMetadata {
  const existing = metadata.partitionSpecs.find((s) => specsEquivalent(s, spec));
  if (existing)
    return existing.specId === metadata.defaultSpecId ? metadata : { ...metadata, defaultSpecId: existing.specId };
  const transformOf = (field: PartitionField) => transformToString(parseTransform(field.transform));
  const earlier = metadata.partitionSpecs.flatMap((s) => s.fields);
  let lastPartitionId = metadata.lastPartitionId;
  const fields: PartitionField[] = spec.fields.map((field) => {
    const same = earlier.find((f) => f.sourceId === field.sourceId && transformOf(f) === transformOf(field));
    if (same) return { ...field, fieldId: same.fieldId };
    const fieldId = ++lastPartitionId;
    // One name, one partition field across the specs: engines build a table's partition type over all of them. A
    // name an earlier field had (`id_bucket` for bucket[16], now bucket[32]) gets the width, as Java names such fields.
    const taken = earlier.some((f) => f.name === field.name);
    const width = /\[(\d+)\]$/.exec(transformOf(field))?.[1];
    return { ...field, fieldId, name: taken ? `${field.name}_${width ?? fieldId}` : field.name };
  });
  const specId = Math.max(...metadata.partitionSpecs.map((s) => s.specId)) + 1;
  return {
    ...metadata,
    partitionSpecs: [...metadata.partitionSpecs, { specId, fields }],
    defaultSpecId: specId,
    lastPartitionId,
  };
}
