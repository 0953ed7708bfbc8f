/**
 * The audit's check of `unique` keys against `main`: which of a batch's keys a published row already holds.
 *
 * Partition and column metrics prune what cannot hold the keys, but random ids (uuids) defeat metrics: every data
 * file's bounds span the key space, so without more every batch would read the key columns of the whole table.
 * Parquet bloom filters on the key columns (written because the auditor sets Iceberg's
 * `write.parquet.bloom-filter-enabled.column.<name>` on the production table, honoured by compaction and by Spark,
 * Trino and Java writers too) answer per row group "certainly none of these keys" or "maybe": only row groups'
 * files with a "maybe" are read, and a key is a duplicate only when a row read from `main` holds it. A filter miss is
 * exact (no false negatives), and a file without a filter on the column, or whose filters cannot be read, is read
 * as before: a duplicate already on `main` is always found; a false positive costs one file read.
 *
 * Data files and manifests are immutable, so each file's filters are read once and kept in a process-wide cache (LRU
 * by bytes), and so are the entries of each manifest (LRU by entries): a warm auditor reads, for a batch of new keys,
 * only the current snapshot's manifest list. Tables with delete files are planned by the scan planner each time.
 */
import type { SchemaElement } from 'hyparquet';
import {
  bloomPhysicalType,
  plainBytes,
  xxhash64Into,
  type SplitBlockBloomFilter,
} from '../../shared/iceberg/bloom-filter.ts';
import { bind, fileStats, mightMatch, type Expression } from '../../shared/iceberg/expressions.ts';
import { currentSchema, snapshotForRef, specById } from '../../shared/iceberg/metadata.ts';
import { readBloomFilters, type ColumnBloomFilters } from '../../shared/iceberg/parquet-reader.ts';
import { planScan, readTasks, type FileScanTask, type ScanPlan } from '../../shared/iceberg/scan.ts';
import { readManifestEntries, readManifestFiles } from '../../shared/iceberg/snapshot.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type ManifestEntry,
  type ManifestFile,
  type TableMetadata,
} from '../../shared/iceberg/types.ts';
import { uniqueKey, uniqueName } from '../../shared/quality/rules.ts';
import type { TopicConfig } from '../../shared/runtime/pipeline-config.ts';
import { DEFAULT_AUDIT_BLOOM_CACHE_BYTES } from '../../shared/runtime/env.ts';
import type { FileIO } from '../../shared/storage/file-io.ts';
import { ownValue } from '../../shared/util/bare-object.ts';
import { createLruCache, type LruCache } from '../../shared/util/lru-cache.ts';

// Shared with the publisher, which asks for the same filters on main's table when it rebases.
export { UNIQUE_KEY_BLOOM_FPP, withUniqueKeyBloomFilters } from '../../shared/wap/table-properties.ts';

/** Per data file (and set of key columns), its bloom filters; least recently used first out past the byte budget. */
export type BloomFilterCache = LruCache<ColumnBloomFilters>;

export function createBloomFilterCache(maxBytes: number): BloomFilterCache {
  return createLruCache({ maxWeight: maxBytes, weigh: (filters) => filters.bytes });
}

function bloomFilters(
  cache: BloomFilterCache,
  io: FileIO,
  location: string,
  fileSize: number,
  fieldIds: number[],
): Promise<ColumnBloomFilters> {
  return cache.get(`${location}\u0000${fieldIds.join(',')}`, () =>
    readBloomFilters(io, { location, fileSize, fieldIds }),
  );
}

/** The auditor process's cache, sized from `FLOE_AUDIT_BLOOM_CACHE_BYTES` when the auditor starts. */
export const bloomFilterCache = createBloomFilterCache(DEFAULT_AUDIT_BLOOM_CACHE_BYTES);

/** Entries of manifests by path (and the schema and sequence number they were read with); LRU past a count of entries. */
export type ManifestEntryCache = LruCache<ManifestEntry[]>;

export function createManifestEntryCache(maxEntries: number): ManifestEntryCache {
  return createLruCache({ maxWeight: maxEntries, weigh: (entries) => entries.length });
}

function manifestEntries(
  cache: ManifestEntryCache,
  io: FileIO,
  manifest: ManifestFile,
  metadata: TableMetadata,
): Promise<ManifestEntry[]> {
  const key = `${manifest.manifestPath}\u0000${metadata.currentSchemaId}\u0000${manifest.sequenceNumber}`;
  return cache.get(key, () => readManifestEntries(io, manifest, metadata));
}

/** The auditor process's manifest cache: a few KB per entry, so ~100k data files in a few hundred MB at most. */
export const manifestCache = createManifestEntryCache(100_000);

/**
 * The scan plan of `main` for a table without delete files, from cached manifest entries, pruned by column metrics
 * (partition pruning is left out: the filters answer for what it would have skipped); undefined when the table has
 * delete files, which the scan planner scopes.
 */
async function dataOnlyPlan(
  io: FileIO,
  metadata: TableMetadata,
  filter: Expression,
  cache: ManifestEntryCache,
): Promise<ScanPlan | undefined> {
  const snapshot = snapshotForRef(metadata, 'main');
  const schema = currentSchema(metadata);
  const bound = bind(filter, schema);
  const plan: ScanPlan = { snapshot, schema, tasks: [], filter: bound, prunedFiles: 0 };
  const manifests = await readManifestFiles(io, snapshot);
  if (manifests.some((m) => m.content !== ManifestContent.DATA)) return undefined;
  for (const manifest of manifests) {
    const spec = specById(metadata, manifest.partitionSpecId);
    for (const entry of await manifestEntries(cache, io, manifest, metadata)) {
      if (entry.status === EntryStatus.DELETED) continue;
      const file = entry.dataFile;
      if (file.content !== FileContent.DATA) return undefined;
      if (!mightMatch(bound, fileStats(file))) {
        plan.prunedFiles++;
        continue;
      }
      plan.tasks.push({ file, spec, sequenceNumber: entry.sequenceNumber ?? 0, deletes: [] });
    }
  }
  return plan;
}

export interface UniqueCheckStats {
  /** Data files left after partition and metrics pruning. */
  candidateFiles: number;
  /** Of those, files no row group of which may hold a key (by bloom filter): not read. */
  skippedByBloom: number;
  /** Files read for their key columns. */
  readFiles: number;
}

type Tuple = unknown[];

/** Keys of the topic's unique rules already on `main`, limited to the values this batch has. */
export async function publishedUniqueKeys(
  io: FileIO,
  production: TableMetadata | undefined,
  topic: TopicConfig,
  rows: Record<string, unknown>[],
  cache: BloomFilterCache = bloomFilterCache,
): Promise<{ keys: Map<string, Set<string>>; stats: UniqueCheckStats }> {
  const keys = new Map<string, Set<string>>();
  const stats: UniqueCheckStats = { candidateFiles: 0, skippedByBloom: 0, readFiles: 0 };
  if (!production) return { keys, stats };
  const schema = currentSchema(production);
  for (const fields of topic.rules.unique) {
    const columns = fields.map((f) => schema.fields.find((c) => c.name === f));
    if (columns.some((c) => !c)) continue;
    const tuples = distinctTuples(rows, fields);
    if (!tuples.length) continue;
    // `in` filters on every key field let partition and file metrics prune what cannot hold these keys (for a
    // time-partitioned table, only recent files); only the key columns are read.
    const filter: Expression = {
      op: 'and',
      args: fields.map((f, j) => ({
        op: 'in' as const,
        ref: f,
        values: [...new Set(tuples.map((t) => t[j]))] as (string | number | bigint)[],
      })),
    };
    const plan =
      (await dataOnlyPlan(io, production, filter, manifestCache)) ??
      (await planScan(production, { io, columns: fields, filter }));
    const ids = columns.map((c) => c!.id);
    const probe = tupleProbe(tuples);
    const keep = await mapLimit(plan.tasks, 8, async (task) => {
      try {
        return probe(await bloomFilters(cache, io, task.file.filePath, task.file.fileSizeInBytes, ids), ids);
      } catch {
        // Filters that cannot be read answer nothing: the file is read, which reports its own errors.
        return true;
      }
    });
    const tasks: FileScanTask[] = plan.tasks.filter((_, i) => keep[i]);
    stats.candidateFiles += plan.tasks.length;
    stats.skippedByBloom += plan.tasks.length - tasks.length;
    stats.readFiles += tasks.length;
    const found = new Set<string>();
    for await (const batch of readTasks({ ...plan, tasks }, production, { io, columns: fields })) {
      for (const r of batch) found.add(uniqueKey(fields.map((f) => ownValue(r, f))));
    }
    keys.set(uniqueName(fields), found);
  }
  return { keys, stats };
}

/** The batch's distinct key tuples with no null part (a key with a null part is never a duplicate). */
function distinctTuples(rows: Record<string, unknown>[], fields: string[]): Tuple[] {
  const seen = new Map<string, Tuple>();
  for (const row of rows) {
    const tuple = fields.map((f) => ownValue(row, f));
    if (tuple.some((v) => v === null || v === undefined)) continue;
    const key = uniqueKey(tuple);
    if (!seen.has(key)) seen.set(key, tuple);
  }
  return [...seen.values()];
}

/**
 * Whether a file's filters leave any row group that may hold one of the tuples: for a tuple, every key column must
 * pass its chunk's filter; a column without a usable filter (none written, no field id, a value the column's type
 * cannot hash) passes. Hashes are computed once per column type and tuple, not per file.
 */
function tupleProbe(tuples: Tuple[]): (filters: ColumnBloomFilters, ids: number[]) => boolean {
  const n = tuples.length;
  /** Per key part and Parquet type: [hi, lo] per tuple, and whether the tuple's value could be hashed at all. */
  const hashes = new Map<string, { hashes: Uint32Array; hashed: Uint8Array }>();
  const hashesFor = (j: number, element: SchemaElement) => {
    const key = `${j}\u0000${element.type}\u0000${element.type_length ?? ''}\u0000${element.converted_type ?? ''}\u0000${element.logical_type?.type ?? ''}`;
    let out = hashes.get(key);
    if (!out) {
      out = { hashes: new Uint32Array(2 * n), hashed: new Uint8Array(n) };
      const physical = bloomPhysicalType(element);
      for (let k = 0; physical && k < n; k++) {
        const bytes = plainBytes(tuples[k][j], physical, element.type_length);
        if (!bytes) continue;
        xxhash64Into(bytes, out.hashes, 2 * k);
        out.hashed[k] = 1;
      }
      hashes.set(key, out);
    }
    return out;
  };
  return (filters, ids) => {
    for (const group of filters.rowGroups) {
      const parts: { filter: SplitBlockBloomFilter; hashes: Uint32Array; hashed: Uint8Array }[] = [];
      ids.forEach((id, j) => {
        const filter = group.filters.get(id);
        if (filter) parts.push({ filter, ...hashesFor(j, filters.elements.get(id)!) });
      });
      if (!parts.length) return true;
      tuples: for (let k = 0; k < n; k++) {
        for (const part of parts) {
          if (part.hashed[k] && !part.filter.mightContain(part.hashes[2 * k], part.hashes[2 * k + 1])) continue tuples;
        }
        return true;
      }
    }
    return false;
  };
}

/** `work` over `items` with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
