/**
 * Rows → data files of a table: rows are split by the table's partition spec, each partition is written as one
 * Parquet file under `<location>/data/<partition path>/`, and the `DataFile` entries (with metrics) come back ready to
 * append. Every writer (ingest, audit, compaction) goes through here.
 */
import { randomUUID } from 'node:crypto';
import type { FileIO } from '../storage/file-io.ts';
import { currentSchema, defaultSpec } from './metadata.ts';
import { parseCompression, parseCompressionLevel, writeDataFile } from './parquet-writer.ts';
import { partitionOf, partitionPath } from './partition.ts';
import {
  FileContent,
  type DataFile,
  type PartitionSpec,
  type PartitionValues,
  type Schema,
  type TableMetadata,
} from './types.ts';

export interface WriteRowsOptions {
  /** Write under this schema instead of the table's current one (it must be one of the table's schemas). */
  schema?: Schema;
  /** Directory for the files; default the table's data location. */
  dataLocation?: string;
}

function dataLocation(metadata: TableMetadata): string {
  return metadata.properties['write.data.path'] ?? `${metadata.location}/data`;
}

/** Where the `index`-th data file of one write operation goes: `<data location>/<partition path>/…parquet`. */
export function dataFilePath(
  metadata: TableMetadata,
  spec: PartitionSpec,
  schema: Schema,
  partition: PartitionValues,
  index: number,
  operationId: string,
  base = dataLocation(metadata),
): string {
  const directory = spec.fields.length ? `${base}/${partitionPath(spec, schema, partition)}` : base;
  return `${directory}/${String(index).padStart(5, '0')}-0-${operationId}-00001.parquet`;
}

function partitionKey(values: PartitionValues): string {
  return values
    .map((v) =>
      v instanceof Uint8Array
        ? Buffer.from(v).toString('hex')
        : v === null || v === undefined
          ? '∅'
          : `${typeof v}:${String(v)}`,
    )
    .join('|');
}

/** Writes `rows` as data files of the table's default spec; returns one `DataFile` per partition touched. */
export async function writeRows(
  io: FileIO,
  metadata: TableMetadata,
  rows: Record<string, unknown>[],
  options: WriteRowsOptions = {},
): Promise<DataFile[]> {
  if (!rows.length) return [];
  const schema = options.schema ?? currentSchema(metadata);
  const spec = defaultSpec(metadata);
  const groups = new Map<string, { partition: PartitionValues; rows: Record<string, unknown>[] }>();
  for (const row of rows) {
    const partition = spec.fields.length ? partitionOf(spec, schema, row) : [];
    const key = partitionKey(partition);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { partition, rows: [] }));
    group.rows.push(row);
  }
  const operationId = randomUUID();
  const compression = parseCompression(metadata.properties['write.parquet.compression-codec'] ?? 'zstd');
  const compressionLevel = parseCompressionLevel(compression, metadata.properties['write.parquet.compression-level']);
  const base = options.dataLocation ?? dataLocation(metadata);
  const files: DataFile[] = [];
  let index = 0;
  for (const { partition, rows: partitionRows } of groups.values()) {
    const filePath = dataFilePath(metadata, spec, schema, partition, index++, operationId, base);
    const { bytes, metrics } = await writeDataFile(schema, partitionRows, {
      compression,
      compressionLevel,
      metricsConfig: metadata.properties,
    });
    await io.write(filePath, bytes);
    files.push({
      content: FileContent.DATA,
      filePath,
      fileFormat: 'PARQUET',
      specId: spec.specId,
      partition,
      ...metrics,
      sortOrderId: 0,
    });
  }
  return files;
}
