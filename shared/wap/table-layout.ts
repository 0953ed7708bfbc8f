/**
 * The tables of a topic (`staging.<t>`, `production.<t>`, `production.<t>_untrusted`): their partition spec from the
 * pipeline config, how their schemas derive from each other, and what `main` already holds (published Kafka offsets).
 */
import { assignFreshIds, setCurrentSchema, unionByName } from '../iceberg/evolution.ts';
import { currentSchema, newTableMetadata } from '../iceberg/metadata.ts';
import { findFieldByName, isPrimitive } from '../iceberg/schema.ts';
import { canTransform } from '../iceberg/transforms.ts';
import type { NestedField, PartitionSpec, Schema, StructType, TableMetadata } from '../iceberg/types.ts';
import type { TopicConfig } from '../runtime/pipeline-config.ts';
import { ConfigError } from '../runtime/pipeline-config.ts';
import { Column, reasonsField } from './staging-rows.ts';
import { mergeRanges, offsetsSummaryKey, parseRanges, type OffsetRanges } from './kafka-offsets.ts';

/** `day(timestamp)` → a partition field on the schema's `timestamp` column, named as Java names it (`timestamp_day`). */
export function specFromConfig(partitionBy: string[], schema: Schema): PartitionSpec {
  const fields = partitionBy.map((text, i) => {
    const match = /^(\w+)\(\s*(?:(\d+)\s*,\s*)?([\w.]+)\s*\)$/.exec(text.trim());
    if (!match) throw new ConfigError(`partitionBy '${text}' is not transform(column)`);
    const [, name, width, column] = match;
    const transform = width ? `${name.toLowerCase()}[${width}]` : name.toLowerCase();
    const source = findFieldByName(schema, column);
    if (!source) throw new ConfigError(`partitionBy '${text}': column '${column}' is not in the table (declare it under the topic's fields)`);
    if (!isPrimitive(source.type) || !canTransform(transform, source.type)) throw new ConfigError(`partitionBy '${text}': ${transform} cannot apply to ${isPrimitive(source.type) ? source.type : source.type.type}`);
    const suffix = transform.replace(/\[.*$/, '');
    return { sourceId: source.id, fieldId: 1000 + i, name: `${column.replace(/\./g, '_')}_${suffix === 'identity' ? '' : suffix}`.replace(/_$/, ''), transform };
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

/** A table's metadata with its schema extended (additively) to hold `struct`; a new table if there is none. */
export function tableFor(
  base: TableMetadata | undefined, struct: StructType, topic: TopicConfig, location: () => string, properties: Record<string, string> = {},
): { metadata: TableMetadata; incompatible: string[] } {
  if (!base) {
    const schema: Schema = { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
    return { metadata: newTableMetadata({ location: location(), schema, spec: specFromConfig(topic.partitionBy, schema), properties }), incompatible: [] };
  }
  const union = unionByName(currentSchema(base), struct, base.lastColumnId);
  return {
    metadata: union.changes.length ? setCurrentSchema(base, union.schema, union.lastColumnId) : base,
    incompatible: union.incompatible.map((i) => `${i.path}: ${i.incoming} does not fit ${i.existing}`),
  };
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

/** The Kafka offsets of `topic` already on a ref: the union over the topic's tables' current snapshot summaries. */
export function publishedRanges(tables: (TableMetadata | undefined)[], topic: string): OffsetRanges {
  let ranges: OffsetRanges = new Map();
  const key = offsetsSummaryKey(topic);
  for (const metadata of tables) {
    const snapshot = metadata?.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
    const text = snapshot?.summary[key];
    if (text) ranges = mergeRanges(ranges, parseRanges(text));
  }
  return ranges;
}
