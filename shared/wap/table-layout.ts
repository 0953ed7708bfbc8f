/**
 * The tables of a topic (`staging.<t>`, `production.<t>`, `production.<t>_untrusted`): their partition spec from the
 * pipeline config and how their schemas derive from each other.
 */
import { assignFreshIds, renameColumn, setCurrentSchema, setDefaultSpec, unionByName } from '../iceberg/evolution.ts';
import { currentSchema, defaultSpec, newTableMetadata } from '../iceberg/metadata.ts';
import { sameLayout } from '../iceberg/partition.ts';
import { findFieldByName, isPrimitive } from '../iceberg/schema.ts';
import { canTransform } from '../iceberg/transforms.ts';
import type { NestedField, PartitionSpec, Schema, StructType, TableMetadata } from '../iceberg/types.ts';
import type { TopicConfig } from '../runtime/pipeline-config.ts';
import { ConfigError } from '../runtime/pipeline-config.ts';
import { bareObject, ownValue } from '../util/bare-object.ts';
import { Column, LEGACY_PARTITION_COLUMN, reasonsField } from './staging-rows.ts';

/** `day(timestamp)` → a partition field on the schema's `timestamp` column, named as Java names it (`timestamp_day`). */
export function specFromConfig(partitionBy: string[], schema: Schema): PartitionSpec {
  const fields = partitionBy.map((text, i) => {
    const match = /^(\w+)\(\s*(?:(\d+)\s*,\s*)?([\w.]+)\s*\)$/.exec(text.trim());
    if (!match) throw new ConfigError(`partitionBy '${text}' is not transform(column)`);
    const [, name, width, column] = match;
    const transform = width ? `${name.toLowerCase()}[${width}]` : name.toLowerCase();
    const source = findFieldByName(schema, column);
    if (!source)
      throw new ConfigError(
        `partitionBy '${text}': column '${column}' is not in the table (declare it under the topic's fields)`,
      );
    if (!isPrimitive(source.type) || !canTransform(transform, source.type))
      throw new ConfigError(
        `partitionBy '${text}': ${transform} cannot apply to ${isPrimitive(source.type) ? source.type : source.type.type}`,
      );
    const suffix = transform.replace(/\[.*$/, '');
    return {
      sourceId: source.id,
      fieldId: 1000 + i,
      name: `${column.replace(/\./g, '_')}_${suffix === 'identity' ? '' : suffix}`.replace(/_$/, ''),
      transform,
    };
  });
  return { specId: 0, fields };
}

/** Trusted production rows carry neither conversion errors nor raw bytes. */
export function productionStruct(staging: StructType): StructType {
  return { type: 'struct', fields: staging.fields.filter((f) => f.name !== Column.errors && f.name !== Column.raw) };
}

/** Untrusted rows keep everything, plus their reasons. */
export function untrustedStruct(staging: StructType): StructType {
  return { type: 'struct', fields: [...staging.fields, reasonsField()] };
}

/**
 * A table of floe's as this version names its columns: the Kafka partition column an earlier floe created as
 * `_partition` renamed to `Column.partition`, keeping its field id (one new schema; the same metadata when there is
 * nothing to rename, so applying it again changes nothing). Only floe's own column is renamed: an int `_partition`
 * next to an `_offset`, in a table without `Column.partition`.
 */
export function withCurrentColumnNames(metadata: TableMetadata): TableMetadata {
  const { fields } = currentSchema(metadata);
  const legacy = fields.find((f) => f.name === LEGACY_PARTITION_COLUMN);
  if (legacy?.type !== 'int' || fields.some((f) => f.name === Column.partition)) return metadata;
  if (!fields.some((f) => f.name === Column.offset)) return metadata;
  return renameColumn(metadata, LEGACY_PARTITION_COLUMN, Column.partition);
}

/**
 * The table with the config's `partitionBy` as its default spec: a table created under another `partitionBy` (the
 * config changed, e.g. `hour(timestamp)` → `day(timestamp)`) evolves its partitioning as Iceberg does, in the commit
 * of the next batch that lands in it. Files already written keep their spec; new ones are laid out by the new one.
 */
export function withConfigPartitioning(metadata: TableMetadata, topic: TopicConfig): TableMetadata {
  let wanted: PartitionSpec;
  try {
    wanted = specFromConfig(topic.partitionBy, currentSchema(metadata));
  } catch (err) {
    // The table's column cannot take the transform (typed otherwise by an earlier config): its rows still land, under
    // the spec the table has, rather than stalling the topic.
    if (err instanceof ConfigError) return metadata;
    throw err;
  }
  return sameLayout(defaultSpec(metadata), wanted) ? metadata : setDefaultSpec(metadata, wanted);
}

/**
 * A table's metadata with its schema extended (additively) to hold `struct`, after `withCurrentColumnNames` (so a
 * table of an earlier floe is renamed in the same commit as the rows it gets), partitioned as the config says; a new
 * table if there is none.
 */
export function tableFor(
  base: TableMetadata | undefined,
  struct: StructType,
  topic: TopicConfig,
  location: () => string,
  properties: Record<string, string> = {},
): { metadata: TableMetadata; incompatible: string[] } {
  if (!base) {
    const schema: Schema = { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
    return {
      metadata: newTableMetadata({
        location: location(),
        schema,
        spec: specFromConfig(topic.partitionBy, schema),
        properties,
      }),
      incompatible: [],
    };
  }
  const named = withCurrentColumnNames(base);
  const union = unionByName(currentSchema(named), struct, named.lastColumnId);
  const extended = union.changes.length ? setCurrentSchema(named, union.schema, union.lastColumnId) : named;
  return {
    metadata: withConfigPartitioning(extended, topic),
    incompatible: union.incompatible.map((i) => `${i.path}: ${i.incoming} does not fit ${i.existing}`),
  };
}

const METADATA_COLUMNS = new Set<string>(Object.values(Column));

/** The reason an untrusted row gets for a payload field its table cannot hold. */
export function mismatchReason(problem: string): string {
  return `type: ${problem} (the table's column has another type)`;
}

/**
 * An untrusted row made to fit its table: each payload field the table cannot take (`check`, e.g. `rowProblem` of the
 * table's schema) is nulled, with the reason added — the row's `_raw` still holds the value. Concurrent batches can
 * type a new column differently; this keeps that from failing the write of every other row.
 */
export function fitUntrustedRow(
  row: Record<string, unknown>,
  check: (row: Record<string, unknown>) => string | undefined,
): Record<string, unknown> {
  const out = Object.assign(bareObject(), row);
  const reasons = [...((row[Column.reasons] as string[] | null) ?? [])];
  for (let problem = check(out); problem !== undefined; problem = check(out)) {
    const field = /^field '([^'.]+)/.exec(problem)?.[1];
    // Only payload fields can be given up: anything else is not the record's doing, and fails the write as before.
    if (field === undefined || ownValue(out, field) === null || METADATA_COLUMNS.has(field)) break;
    const reason = mismatchReason(problem);
    if (!reasons.includes(reason)) reasons.push(reason);
    out[field] = null;
  }
  out[Column.reasons] = reasons;
  return out;
}

/** Whether rows written under `from` can be appended to a table with schema `to` without rewriting (same ids by name). */
export function sameFieldIds(from: Schema, to: Schema): boolean {
  const byName = new Map(to.fields.map((f) => [f.name, f]));
  const ids = new Map(to.fields.map((f) => [f.id, f.name]));
  const check = (f: NestedField) => {
    const other = byName.get(f.name);
    if (other) return other.id === f.id && JSON.stringify(other.type) === JSON.stringify(f.type);
    return !ids.has(f.id);
  };
  return from.fields.every(check);
}
