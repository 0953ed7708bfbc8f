/**
 * The table properties floe derives from the pipeline config: Parquet bloom filters on the production table's
 * `unique` key columns (`write.parquet.bloom-filter-enabled.column.<name>`, `write.parquet.bloom-filter-fpp.column.<name>`),
 * which keep the audit's check against `main` from reading every file, and are honoured by compaction and by Spark,
 * Trino and Java writers too.
 *
 * The auditor asks for them on the batch branch's production table; the publisher asks for them again on `main`'s when
 * it rebases (a plain merge carries the branch's table), so a table created by an earlier floe, or one whose `unique`
 * rules changed, gets them with the next publish either way.
 *
 * Only additions: a property already set for a column (an explicit `false`, another fpp — the table owner's choice, or
 * another engine's) is kept, and a column that left the `unique` rules keeps its filters. floe cannot tell its own
 * earlier setting from an owner's, a stale filter costs only bytes per row group, and publishers running with an old
 * and a new config at once (a rolling update) must not undo each other's commits: additions converge, removals would
 * flip back and forth.
 */
import { BLOOM_ENABLED_PREFIX, BLOOM_FPP_PREFIX } from '../iceberg/bloom-filter.ts';
import { currentSchema } from '../iceberg/metadata.ts';
import { decimalOf, isPrimitive } from '../iceberg/schema.ts';
import type { TableMetadata } from '../iceberg/types.ts';

/**
 * The false-positive probability floe asks for on a unique key column. Java's sizing rounds up to a power of two:
 * a 100k-row group gets 1 MiB (84 bits per key, measured rate ~3e-7 by the SBBF's block occupancy), so a
 * 1,000-key batch against 100 such files reads a file by mistake about once in 35 batches; 1e-6 would round to
 * 512 KiB (42 bits, ~9e-6): about one needless 100k-row read per batch at that size.
 */
export const UNIQUE_KEY_BLOOM_FPP = '0.0000001';

/** Types floe asks no filter for: a boolean has two values, and floating-point equality is not byte equality. */
const UNHASHED_TYPES = new Set(['boolean', 'float', 'double']);

/**
 * The production table with bloom filters asked for on its unique key columns, unless its properties already say
 * (an explicit `false`, or another fpp, is the table owner's choice and kept). The same metadata object when nothing
 * is missing, so applying it again commits nothing.
 */
export function withUniqueKeyBloomFilters(metadata: TableMetadata, unique: string[][]): TableMetadata {
  const schema = currentSchema(metadata);
  const added: Record<string, string> = {};
  for (const name of new Set(unique.flat())) {
    const field = schema.fields.find((f) => f.name === name);
    if (!field || !isPrimitive(field.type) || UNHASHED_TYPES.has(field.type) || decimalOf(field.type)) continue;
    if (metadata.properties[BLOOM_ENABLED_PREFIX + name] !== undefined) continue;
    added[BLOOM_ENABLED_PREFIX + name] = 'true';
    if (metadata.properties[BLOOM_FPP_PREFIX + name] === undefined)
      added[BLOOM_FPP_PREFIX + name] = UNIQUE_KEY_BLOOM_FPP;
  }
  return Object.keys(added).length ? { ...metadata, properties: { ...metadata.properties, ...added } } : metadata;
}
