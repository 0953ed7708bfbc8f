/**
 * The DuckDB engine of compaction: a file group is copied by DuckDB (`COPY (SELECT * FROM read_parquet([...])) TO …
 * (FORMAT parquet, FIELD_IDS {...})`) column by column in native code instead of being decoded into JS rows and
 * encoded again, which is several times cheaper per byte. It applies only where the result is exactly what the JS
 * path would record; otherwise `rewriteGroupWithDuckDB` says why and the caller uses the JS path:
 *
 * - no delete applies to any input (rows pass through unchanged), every input is Parquet of the default spec and
 *   smaller than the target size (output files are made of whole input files);
 * - every input's Parquet schema is the one the current schema writes (same names, field ids, types), so DuckDB's
 *   positional union of the files is the table's schema; fixed-length binaries are excluded (DuckDB writes them as
 *   variable-length binaries);
 * - every input carries the metrics the table's metrics config asks for.
 *
 * An output file's metrics are then the inputs' merged — value/null/NaN counts summed, bounds the min of the lower and
 * max of the upper bounds, truncated again under the current mode (a prefix of the least value is the least prefix,
 * and the rounded-up upper bound is monotonic) — which is what computing them from its rows gives when the inputs
 * were written under the same metrics config. Column sizes and split offsets come from the written file's footer.
 * DuckDB writes every column OPTIONAL; field ids, logical types and values are unchanged.
 *
 * Bloom filters (`write.parquet.bloom-filter-enabled.column.<name>`, which the auditor's uniqueness check relies on):
 * DuckDB writes a split block bloom filter for every dictionary-encoded column chunk, built from the dictionary, so
 * it holds every value of the chunk, sized by Java's formula for the distinct count at
 * `BLOOM_FILTER_FALSE_POSITIVE_RATIO`. A unique key has as many distinct values as rows and would overflow the default
 * dictionary limit (a fifth of the row group), so for such tables the dictionary limit is the most rows a row group
 * can get — every chunk fits — and the ratio the smallest fpp asked for. Both options are global in DuckDB 1.5: other columns
 * are dictionary-encoded and filtered too, which costs bytes, not correctness (`npm run bench -- maintenance`, bloom
 * variant: output ~23 % larger than the JS rewrite's, still ~3× less CPU than it). Each written file's footer and
 * filters are then read back, and the group goes to the JS path if any row group lacks a usable filter (one floe
 * can evaluate, within `write.parquet.bloom-filter-max-bytes`) for a requested column that has values in it.
 *
 * `@duckdb/node-api` is loaded on first use: an image built without it compacts with the JS path.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FileIO } from '../storage/file-io.ts';
import { metricsMaps, metricsModes, type LeafTotals, type MetricsMode } from './column-metrics.ts';
import { compareValues, fromBinary } from './conversions.ts';
import { currentSchema, defaultSpec } from './metadata.ts';
import { bloomFilterColumns, bloomPhysicalType, type BloomColumn } from './bloom-filter.ts';
import { DEFAULT_ROW_GROUP_SIZE, parseCompression, parseCompressionLevel } from './parquet-writer.ts';
import { readBloomFilters, readDataFileMetadata } from './parquet-reader.ts';
import { parquetName, parquetSchemaOf } from './parquet-schema.ts';
import { fixedLength, indexById, schemaToJson } from './schema.ts';
import { stringifyJson } from '../util/lossless-json.ts';
import { dataFilePath } from './writer.ts';
import type { FileGroup, RewritePlan } from './rewrite-data.ts';
import {
  FileContent,
  type DataFile,
  type IcebergType,
  type PrimitiveType,
  type Schema,
  type TableMetadata,
} from './types.ts';

type DuckDB = typeof import('@duckdb/node-api');
let duckdb: Promise<DuckDB | undefined> | undefined;

/** `@duckdb/node-api`, or undefined when it is not installed (the JS path is used then). */
export function loadDuckDB(): Promise<DuckDB | undefined> {
  // A specifier bundlers cannot resolve at build time: function bundles stay free of the native module, and use it
  // when the image installs it next to them.
  const specifier = ['@duckdb', 'node-api'].join('/');
  duckdb ??= (import(specifier) as Promise<DuckDB>).catch(() => undefined);
  return duckdb;
}

interface Leaf {
  id: number;
  type: PrimitiveType;
  mode: MetricsMode;
  bounds: boolean;
}

/** The primitive leaves of a schema with their metrics modes; bounds only outside lists and maps (as the writer). */
function leavesOf(schema: Schema, properties: Record<string, string>): Leaf[] {
  const modes = metricsModes(schema, properties);
  const out: Leaf[] = [];
  const visit = (type: IcebergType, id: number, repeated: boolean) => {
    if (typeof type === 'string') {
      const mode = modes.get(id)!;
      out.push({ id, type, mode, bounds: !repeated && (mode.kind === 'truncate' || mode.kind === 'full') });
    } else if (type.type === 'struct') for (const f of type.fields) visit(f.type, f.id, repeated);
    else if (type.type === 'list') visit(type.element, type.elementId, true);
    else {
      visit(type.key, type.keyId, true);
      visit(type.value, type.valueId, true);
    }
  };
  for (const f of schema.fields) visit(f.type, f.id, false);
  return out;
}

/** Why the group cannot be copied by DuckDB with exact metrics, or undefined when it can. */
export function duckdbUnsupported(metadata: TableMetadata, plan: RewritePlan, group: FileGroup): string | undefined {
  const schema = currentSchema(metadata);
  const spec = defaultSpec(metadata);
  const target = plan.settings['target-file-size-bytes'];
  const index = indexById(schema);
  for (const field of index.values()) {
    if (typeof field.type === 'string' && fixedLength(field.type) !== undefined)
      return `column ${field.path.join('.')} is ${field.type}`;
    if (field.type === 'unknown') return `column ${field.path.join('.')} is ${field.type}`;
  }
  const leaves = leavesOf(schema, metadata.properties);
  for (const task of group.tasks) {
    const file = task.file;
    if (task.deletes.length) return `deletes apply to ${file.filePath}`;
    if (task.spec.specId !== spec.specId) return `${file.filePath} has spec ${task.spec.specId}, not the default`;
    if (file.fileSizeInBytes >= target) return `${file.filePath} is not smaller than the target size`;
    for (const leaf of leaves) {
      if (leaf.mode.kind === 'none') continue;
      const values = file.valueCounts?.get(leaf.id);
      const nulls = file.nullValueCounts?.get(leaf.id);
      const isFloat = leaf.type === 'float' || leaf.type === 'double';
      const nans = isFloat ? file.nanValueCounts?.get(leaf.id) : 0;
      if (values === undefined || nulls === undefined || nans === undefined)
        return `${file.filePath} lacks counts of column ${leaf.id}`;
      if (leaf.bounds && values > nulls + nans) {
        if (!file.lowerBounds?.has(leaf.id) || !file.upperBounds?.has(leaf.id))
          return `${file.filePath} lacks bounds of column ${leaf.id}`;
      }
    }
  }
  return undefined;
}

/** The metrics of the concatenation of `files` (see the module comment). */
export function mergeMetrics(files: DataFile[], leaves: Leaf[]): ReturnType<typeof metricsMaps> {
  const totals: LeafTotals[] = [];
  for (const leaf of leaves) {
    if (leaf.mode.kind === 'none') continue;
    const isFloat = leaf.type === 'float' || leaf.type === 'double';
    let values = 0;
    let nulls = 0;
    let nans = 0;
    let min: unknown;
    let max: unknown;
    // uuid bounds are the 16 bytes; they compare (and stay) as binary
    const boundType: PrimitiveType = leaf.type === 'uuid' ? 'binary' : leaf.type;
    for (const file of files) {
      values += file.valueCounts!.get(leaf.id)!;
      nulls += file.nullValueCounts!.get(leaf.id)!;
      if (isFloat) nans += file.nanValueCounts!.get(leaf.id)!;
      if (!leaf.bounds) continue;
      const lower = file.lowerBounds?.get(leaf.id);
      const upper = file.upperBounds?.get(leaf.id);
      if (lower) {
        const v = fromBinary(boundType, lower);
        if (min === undefined || compareValues(boundType, v, min) < 0) min = v;
      }
      if (upper) {
        const v = fromBinary(boundType, upper);
        if (max === undefined || compareValues(boundType, v, max) > 0) max = v;
      }
    }
    // bounds only when both ends are known
    totals.push({ ...leaf, values, nulls, nans, min: max === undefined ? undefined : min, max });
  }
  return metricsMaps(totals);
}

/**
 * DuckDB's writer closes a row group after the input chunk (of at most this many rows) that reaches `ROW_GROUP_SIZE`,
 * so a row group can hold this many rows more; the dictionary limit leaves room for them.
 */
const DUCKDB_VECTOR_SIZE = 2048;

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** DuckDB's `FIELD_IDS` struct for the Parquet columns of `schema`. */
function fieldIdsOf(schema: Schema): string {
  const nested = (type: IcebergType, id: number): string => {
    if (typeof type === 'string') return String(id);
    if (type.type === 'struct')
      return `{__duckdb_field_id: ${id}, ${type.fields.map((f) => `${quote(parquetName(f.name))}: ${nested(f.type, f.id)}`).join(', ')}}`;
    if (type.type === 'list') return `{__duckdb_field_id: ${id}, element: ${nested(type.element, type.elementId)}}`;
    return `{__duckdb_field_id: ${id}, key: ${nested(type.key, type.keyId)}, value: ${nested(type.value, type.valueId)}}`;
  };
  return `{${schema.fields.map((f) => `${quote(parquetName(f.name))}: ${nested(f.type, f.id)}`).join(', ')}}`;
}

const DUCKDB_CODECS: Record<string, string> = {
  zstd: 'zstd',
  snappy: 'snappy',
  gzip: 'gzip',
  uncompressed: 'uncompressed',
  none: 'uncompressed',
};

/** A file's column-chunk bytes (its size without footer overhead) when its metrics have them. */
function dataBytes(file: DataFile): number {
  const columns = [...(file.columnSizes?.values() ?? [])].reduce((s, n) => s + n, 0);
  return columns > 0 && columns <= file.fileSizeInBytes ? columns : file.fileSizeInBytes;
}

/** The first of `parts` consecutive runs of about equal data bytes (output files are whole inputs concatenated). */
function firstRun<T extends { file: DataFile }>(items: T[], parts: number): T[] {
  if (parts <= 1) return items;
  const share = items.reduce((s, t) => s + dataBytes(t.file), 0) / parts;
  let done = 0;
  for (let i = 0; i < items.length; i++) {
    done += dataBytes(items[i].file);
    if (done >= share) return items.slice(0, i + 1);
  }
  return items;
}

export interface DuckDBRewrite {
  files?: DataFile[];
  /** Why the JS path has to do it instead. */
  fallback?: string;
}

/**
 * Rewrites a group with DuckDB when it applies (see the module comment); `{ fallback }` says why not. Inputs are
 * staged in a local temporary directory (the store may be remote) and the outputs uploaded to the table's data
 * location.
 */
export async function rewriteGroupWithDuckDB(
  io: FileIO,
  metadata: TableMetadata,
  plan: RewritePlan,
  group: FileGroup,
  options: {
    /**
     * Copy groups of tables that ask for bloom filters too (engine `duckdb-bloom`); otherwise they fall back, since
     * DuckDB's filtered files are larger than the JS rewrite's.
     */
    bloomFilters?: boolean;
    /** Output files for so many bytes (the planner's `expectedOutputFiles`). */
    outputFiles: (bytes: number) => number;
    /** The size limits of an output file. */
    sizes: { min: number; max: number };
    threads?: number;
    /** Rows per row group on a table with bloom filters; default floe's writer's. */
    rowGroupRows?: number;
    /**
     * Distinct values a column chunk's dictionary may hold on a table with bloom filters (default: as many as a row
     * group can have rows, so every chunk fits); lower only to provoke chunks without a filter.
     */
    dictionarySizeLimit?: number;
  },
): Promise<DuckDBRewrite> {
  const reason = duckdbUnsupported(metadata, plan, group);
  if (reason) return { fallback: reason };
  const schema = currentSchema(metadata);
  const blooms = requiredBloomFilters(schema, metadata.properties);
  if (blooms.size && !options.bloomFilters)
    return {
      fallback:
        'the table asks for bloom filters, and DuckDB writes them only with dictionaries on every column (larger files; FLOE_COMPACTION_ENGINE=duckdb-bloom accepts that)',
    };
  const codecName = (metadata.properties['write.parquet.compression-codec'] ?? 'zstd').toLowerCase();
  const codec = DUCKDB_CODECS[codecName];
  if (!codec) return { fallback: 'compression codec not known to DuckDB' };
  const level = parseCompressionLevel(
    parseCompression(codecName),
    metadata.properties['write.parquet.compression-level'],
  );
  // DuckDB's COMPRESSION_LEVEL is zstd's; a gzip level is kept by the JavaScript path.
  if (level !== undefined && codec !== 'zstd') return { fallback: `DuckDB takes no ${codec} compression level` };
  const levelOption = level === undefined ? '' : `, COMPRESSION_LEVEL ${level}`;
  const api = await loadDuckDB();
  if (!api) return { fallback: '@duckdb/node-api is not installed' };

  const spec = defaultSpec(metadata);
  const leaves = leavesOf(schema, metadata.properties);
  const expected = parquetSchemaOf(schema)
    .slice(1)
    .map((e) => [e.name, e.field_id ?? null, e.type ?? null].join('|'));
  const dir = await mkdtemp(path.join(tmpdir(), 'floe-compact-'));
  const instance = await api.DuckDBInstance.create(':memory:', { threads: String(options.threads ?? 1) });
  const connection = await instance.connect();
  const uploaded: DataFile[] = [];
  try {
    const local = group.tasks.map((_, i) => path.join(dir, `in-${i}.parquet`));
    await Promise.all(group.tasks.map(async (t, i) => writeFile(local[i], await io.read(t.file.filePath))));
    const schemas = await connection.runAndReadAll(
      `SELECT file_name, name, field_id, type FROM parquet_schema([${local.map(quote).join(', ')}])`,
    );
    const byFile = new Map<string, string[]>();
    for (const [file, name, id, type] of schemas.getRows()) {
      const list = byFile.get(String(file)) ?? [];
      list.push([name, id === null ? null : Number(id), type].join('|'));
      byFile.set(String(file), list);
    }
    for (const [file, elements] of byFile) {
      // the first element is the root, named by its writer
      if (elements.slice(1).join('\n') !== expected.join('\n'))
        return { fallback: `${group.tasks[local.indexOf(file)]?.file.filePath ?? file} has another Parquet schema` };
    }
    const rowGroupRows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_SIZE;
    const bloomOptions = blooms.size
      ? `, ROW_GROUP_SIZE ${rowGroupRows}, DICTIONARY_SIZE_LIMIT ${options.dictionarySizeLimit ?? rowGroupRows + DUCKDB_VECTOR_SIZE}` +
        `, BLOOM_FILTER_FALSE_POSITIVE_RATIO ${Math.min(...[...blooms.values()].map((b) => b.fpp))}`
      : '';
    const operationId = randomUUID();
    const { min, max } = options.sizes;
    const partition = group.tasks[0].file.partition;
    let remaining = group.tasks.map((task, i) => ({ file: task.file, local: local[i] }));
    // Output bytes per input data byte: starts at 1 and follows what DuckDB actually wrote (as the JS path follows
    // the bytes per row), so output files land within the size limits.
    let ratio = 1;
    let retaken = false;
    for (let n = 0; remaining.length; n++) {
      const inputBytes = remaining.reduce((s, r) => s + dataBytes(r.file), 0);
      const run = firstRun(remaining, options.outputFiles(inputBytes * ratio));
      const out = path.join(dir, `out-${n}.parquet`);
      await connection.run(
        `COPY (SELECT * FROM read_parquet([${run.map((r) => quote(r.local)).join(', ')}])) TO ${quote(out)} ` +
          `(FORMAT parquet, COMPRESSION ${codec}${levelOption}, FIELD_IDS ${fieldIdsOf(schema)}, ` +
          `KV_METADATA {'iceberg.schema': ${quote(stringifyJson(schemaToJson(schema)))}}${bloomOptions})`,
      );
      const bytes = new Uint8Array(await readFile(out));
      const previousRatio = ratio;
      ratio =
        bytes.byteLength /
        Math.max(
          1,
          run.reduce((s, r) => s + dataBytes(r.file), 0),
        );
      const last = run.length === remaining.length;
      const wantsOther = options.outputFiles(inputBytes * ratio) !== options.outputFiles(inputBytes * previousRatio);
      // Once per output file, and only if the corrected ratio really changes the split.
      if (!retaken && wantsOther && ((bytes.byteLength < min && !last) || (bytes.byteLength > max && run.length > 1))) {
        retaken = true;
        n--;
        continue;
      }
      retaken = false;
      const footer = await readDataFileMetadata(bytes, { location: out });
      const records = run.reduce((s, r) => s + r.file.recordCount, 0);
      if (footer.rowCount !== records)
        throw new Error(`DuckDB wrote ${footer.rowCount} rows for ${records} input rows of ${group.partition}`);
      const lacking = blooms.size ? await missingBloomFilter(bytes, out, footer.metadata, blooms) : undefined;
      if (lacking) {
        await io.deleteMany(uploaded.map((f) => f.filePath));
        return { fallback: lacking };
      }
      const filePath = dataFilePath(metadata, spec, schema, partition, n, operationId);
      await io.write(filePath, bytes);
      uploaded.push({
        content: FileContent.DATA,
        filePath,
        fileFormat: 'PARQUET',
        specId: spec.specId,
        partition,
        recordCount: records,
        fileSizeInBytes: bytes.byteLength,
        ...footerSizes(footer.metadata),
        ...mergeMetrics(
          run.map((r) => r.file),
          leaves,
        ),
        sortOrderId: 0,
      });
      remaining = remaining.slice(run.length);
    }
    return { files: uploaded };
  } catch (err) {
    await io.deleteMany(uploaded.map((f) => f.filePath)).catch(() => undefined);
    throw err;
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}

type Footer = Awaited<ReturnType<typeof readDataFileMetadata>>['metadata'];

interface RequiredBloom extends BloomColumn {
  id: number;
  name: string;
}

/** The columns floe's writer would give filters: asked for by the table, top-level, of a type floe hashes. */
function requiredBloomFilters(schema: Schema, properties: Record<string, string>): Map<number, RequiredBloom> {
  const asked = bloomFilterColumns(schema, properties);
  const out = new Map<number, RequiredBloom>();
  if (!asked.size) return out;
  const elements = new Map(
    parquetSchemaOf(schema)
      .slice(1)
      .filter((e) => !e.num_children)
      .map((e) => [e.field_id, e]),
  );
  for (const field of schema.fields) {
    const settings = asked.get(field.name);
    const element = elements.get(field.id);
    if (settings && element && bloomPhysicalType(element))
      out.set(field.id, { ...settings, id: field.id, name: field.name });
  }
  return out;
}

/**
 * Why a written file does not carry what floe's writer would (a usable filter for each requested column in each row
 * group where it has values, at most the table's maximum filter size), or undefined when it does.
 */
async function missingBloomFilter(
  bytes: Uint8Array,
  location: string,
  footer: Footer,
  blooms: Map<number, RequiredBloom>,
): Promise<string | undefined> {
  const read = await readBloomFilters(bytes, { location, fieldIds: [...blooms.keys()] });
  for (const bloom of blooms.values()) {
    if (!read.elements.has(bloom.id)) return `DuckDB's file has no column ${bloom.name} to hold a bloom filter`;
  }
  for (let g = 0; g < read.rowGroups.length; g++) {
    const group = read.rowGroups[g];
    for (const bloom of blooms.values()) {
      const filter = group.filters.get(bloom.id);
      if (filter) {
        if (filter.numBytes > bloom.maxBytes)
          return `DuckDB's bloom filter of column ${bloom.name} in row group ${g} has ${filter.numBytes} bytes, over the table's ${bloom.maxBytes}`;
        continue;
      }
      // an all-null chunk gets no filter from floe's writer either
      const chunk = footer.row_groups[g].columns.find(
        (c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === parquetName(bloom.name),
      );
      const stats = chunk?.meta_data?.statistics;
      const allNull = stats?.null_count !== undefined && Number(stats.null_count) === group.rowCount;
      if (!allNull) return `DuckDB wrote no usable bloom filter for column ${bloom.name} in row group ${g}`;
    }
  }
  return undefined;
}

/** Column sizes per leaf field id and split offsets (row group starts, as Java's `getStartingPos`) of a footer. */
function footerSizes(footer: Footer): Pick<DataFile, 'columnSizes' | 'splitOffsets'> {
  const leafIds = new Map<string, number>();
  let i = 1;
  const walk = (prefix: string[]) => {
    const element = footer.schema[i++];
    const here = [...prefix, element.name];
    if (!element.num_children) {
      if (element.field_id !== undefined) leafIds.set(here.join('\u0000'), element.field_id);
      return;
    }
    for (let c = 0; c < element.num_children; c++) walk(here);
  };
  const rootChildren = footer.schema[0].num_children ?? 0;
  for (let c = 0; c < rootChildren; c++) walk([]);
  const columnSizes = new Map<number, number>();
  const splitOffsets: number[] = [];
  for (const group of footer.row_groups) {
    const first = group.columns[0]?.meta_data;
    if (first) {
      const dictionary = first.dictionary_page_offset;
      splitOffsets.push(Number(dictionary !== undefined && dictionary > 0n ? dictionary : first.data_page_offset));
    }
    for (const chunk of group.columns) {
      const id = leafIds.get((chunk.meta_data?.path_in_schema ?? []).join('\u0000'));
      if (id !== undefined)
        columnSizes.set(id, (columnSizes.get(id) ?? 0) + Number(chunk.meta_data?.total_compressed_size ?? 0n));
    }
  }
  return { columnSizes, splitOffsets };
}
