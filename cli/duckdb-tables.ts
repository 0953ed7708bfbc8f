/**
 * The tables of a Nessie reference as DuckDB views: each `namespace.table` becomes a view over `read_parquet` of its
 * live data files. Columns are matched by Parquet field id (read_parquet's `schema` parameter), not by name, so a
 * renamed column reads its old files and a column added later reads as NULL in files written before it — as Iceberg
 * defines projection. DuckDB matches the fields *inside* a struct by name, so a renamed nested field reads as NULL in
 * files written before the rename.
 *
 * What read_parquet cannot do — apply position and equality deletes, map names onto files written without field ids
 * (a name mapping), fill identity-partition values some writers leave out of the files — floe's own scan does: such a
 * table is read with it and written once more, as Parquet with field ids, into a scratch directory DuckDB reads.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keyName, readMetadata, type Catalog } from '../shared/catalog/table-catalog.ts';
import { NAME_MAPPING_PROPERTY } from '../shared/iceberg/name-mapping.ts';
import { writeDataFile } from '../shared/iceberg/parquet-writer.ts';
import { planScan, readTasks, type ScanPlan } from '../shared/iceberg/scan.ts';
import { decimalOf, fixedLength, isList, isMap, isStruct } from '../shared/iceberg/schema.ts';
import { parseTransform } from '../shared/iceberg/transforms.ts';
import type { IcebergType, Schema, TableMetadata } from '../shared/iceberg/types.ts';
import { localPathOf, type FileIO } from '../shared/storage/index.ts';

export interface TableFiles {
  /** `namespace.table`, as Nessie names it. */
  name: string;
  schemaName: string;
  tableName: string;
  schema: Schema;
  metadata: TableMetadata;
  plan: ScanPlan;
  /** Why DuckDB cannot read the data files as they are (the table is then read with floe's scan); undefined when it can. */
  readThroughScan?: string;
}

/**
 * A snapshot of a table (the current one unless `snapshotId` is given; then with that snapshot's schema, as Iceberg
 * time travel reads it), planned: its live data files and whether DuckDB can read them directly.
 */
export async function planTable(
  name: string,
  metadata: TableMetadata,
  io: FileIO,
  snapshotId?: bigint,
): Promise<TableFiles> {
  const elements = name.split('.');
  const plan = await planScan(metadata, { io, ...(snapshotId !== undefined ? { snapshotId } : {}) });
  const deletes = new Set(plan.tasks.flatMap((t) => t.deletes.map((d) => d.file.filePath)));
  const identity = metadata.partitionSpecs.some((spec) =>
    spec.fields.some((f) => parseTransform(f.transform).kind === 'identity'),
  );
  const readThroughScan = deletes.size
    ? `${deletes.size} delete file(s) apply`
    : metadata.properties[NAME_MAPPING_PROPERTY]
      ? 'its files are read through a name mapping'
      : identity
        ? 'identity-partition values may be missing from its files'
        : undefined;
  return {
    name,
    schemaName: elements.slice(0, -1).join('.'),
    tableName: elements[elements.length - 1],
    schema: plan.schema,
    metadata,
    plan,
    ...(readThroughScan ? { readThroughScan } : {}),
  };
}

/**
 * Every Iceberg table on `ref` with its live data files, and the commit hash they were read at. A table named in
 * `snapshots` is planned at that snapshot instead of its current one.
 */
export async function tablesOnRef(
  catalog: Catalog,
  ref: string,
  snapshots: ReadonlyMap<string, bigint> = new Map(),
): Promise<{ hash: string; tables: TableFiles[] }> {
  const { effectiveReference, value: entries } = await catalog.client.listEntries(ref, { content: true });
  const located = entries.flatMap((e) =>
    e.content?.type === 'ICEBERG_TABLE' ? [{ elements: e.name.elements, location: e.content.metadataLocation }] : [],
  );
  const names = new Set(located.map(({ elements }) => keyName({ elements })));
  const unknown = [...snapshots.keys()].filter((name) => !names.has(name));
  if (unknown.length)
    throw new Error(
      `no table ${unknown.join(', ')} on ${ref} to time travel in (tables: ${[...names].sort().join(', ') || 'none'})`,
    );
  const tables = await Promise.all(
    located.map(async ({ elements, location }) => {
      const name = keyName({ elements });
      const snapshotId = snapshots.get(name);
      try {
        return await planTable(name, await readMetadata(catalog.io, location), catalog.io, snapshotId);
      } catch (err) {
        if (snapshotId === undefined) throw err;
        throw new Error(`${name} at snapshot ${snapshotId}: ${(err as Error).message}`);
      }
    }),
  );
  return { hash: effectiveReference.hash, tables: tables.sort((a, b) => a.name.localeCompare(b.name)) };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The DuckDB type an Iceberg type reads as. */
export function duckdbType(type: IcebergType): string {
  if (isStruct(type))
    return `STRUCT(${type.fields.map((f) => `${quoteIdent(f.name)} ${duckdbType(f.type)}`).join(', ')})`;
  if (isList(type)) return `${duckdbType(type.element)}[]`;
  if (isMap(type)) return `MAP(${duckdbType(type.key)}, ${duckdbType(type.value)})`;
  const decimal = decimalOf(type);
  if (decimal) return `DECIMAL(${decimal.precision}, ${decimal.scale})`;
  if (fixedLength(type) !== undefined) return 'BLOB';
  const primitives: Record<string, string> = {
    boolean: 'BOOLEAN',
    int: 'INTEGER',
    long: 'BIGINT',
    float: 'FLOAT',
    double: 'DOUBLE',
    date: 'DATE',
    time: 'TIME',
    timestamp: 'TIMESTAMP',
    timestamptz: 'TIMESTAMPTZ',
    timestamp_ns: 'TIMESTAMP_NS',
    timestamptz_ns: 'TIMESTAMPTZ',
    string: 'VARCHAR',
    uuid: 'UUID',
    binary: 'BLOB',
    unknown: 'NULL',
  };
  const mapped = primitives[type as string];
  if (!mapped) throw new Error(`no DuckDB type for Iceberg type ${String(type)}`);
  return mapped;
}

/** Whether DuckDB reads the file where it is (a local path); anything else is copied first. */
function isLocal(location: string): boolean {
  return /^(file:|\/)/.test(location);
}

/** How many of the table's live data files are not local (`s3://`) and so are copied before DuckDB reads them. */
export function remoteFiles(table: TableFiles): number {
  return table.plan.tasks.filter((t) => !isLocal(t.file.filePath)).length;
}

/**
 * Local paths DuckDB can read for a table's data files. Files elsewhere (`s3://`: DuckDB's httpfs extension is not
 * assumed to be installable) and local paths DuckDB would take as a glob pattern are copied into `scratch` first.
 */
export async function readablePaths(
  io: FileIO,
  locations: string[],
  scratch: () => Promise<string>,
): Promise<string[]> {
  return Promise.all(
    locations.map(async (location, i) => {
      if (isLocal(location)) {
        const local = localPathOf(location);
        if (!/[*?[\]{}]/.test(local)) return local;
      }
      const copy = path.join(await scratch(), `${i}-${path.basename(location).replace(/[^\w.-]/g, '_')}`);
      await writeFile(copy, await io.read(location));
      return copy;
    }),
  );
}

/** Local Parquet files holding the table's live rows, with the table's field ids. */
export async function tablePaths(table: TableFiles, io: FileIO, scratch: () => Promise<string>): Promise<string[]> {
  if (!table.readThroughScan)
    return readablePaths(
      io,
      table.plan.tasks.map((t) => t.file.filePath),
      scratch,
    );
  const paths: string[] = [];
  for await (const batch of readTasks(table.plan, table.metadata, { io })) {
    const file = path.join(await scratch(), `${table.name.replace(/[^\w.-]/g, '_')}-${paths.length}.parquet`);
    await writeFile(file, (await writeDataFile(table.schema, batch, { compression: 'none' })).bytes);
    paths.push(file);
  }
  return paths;
}

/** The statements creating a table's view; `paths` are the local files to read. */
export function viewStatements(table: TableFiles, paths: string[]): string[] {
  const target = `${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)}`;
  const create = [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.schemaName)}`];
  const fields = table.schema.fields;
  if (!paths.length || !fields.length) {
    const columns = fields.length
      ? fields.map((f) => `CAST(NULL AS ${duckdbType(f.type)}) AS ${quoteIdent(f.name)}`).join(', ')
      : 'NULL AS "no_columns"';
    return [...create, `CREATE VIEW ${target} AS SELECT ${columns} WHERE false`];
  }
  const mapping = fields
    .map(
      (f) => `${f.id}: {name: ${quoteString(f.name)}, type: ${quoteString(duckdbType(f.type))}, default_value: NULL}`,
    )
    .join(', ');
  const files = paths.map(quoteString).join(', ');
  // hive_partitioning off: a partition directory such as `ts_day=2024-05-01` must not add a column of its own.
  return [
    ...create,
    `CREATE VIEW ${target} AS SELECT * FROM read_parquet([${files}], schema = MAP {${mapping}}, hive_partitioning = false)`,
  ];
}

/** A view that fails with `message` when read, keeping the table's columns (so the catalog of views stays complete). */
export function guardedView(table: TableFiles, message: string): string[] {
  const columns =
    table.schema.fields.map((f) => `CAST(NULL AS ${duckdbType(f.type)}) AS ${quoteIdent(f.name)}`).join(', ') ||
    'NULL AS "no_columns"';
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.schemaName)}`,
    `CREATE VIEW ${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)} AS SELECT ${columns} FROM range(1) WHERE error(${quoteString(message)})`,
  ];
}

/** A scratch directory created on first use, removed by `cleanup`. */
export function scratchDirectory(): { get(): Promise<string>; cleanup(): Promise<void> } {
  let dir: Promise<string> | undefined;
  return {
    get: () => (dir ??= mkdtemp(path.join(os.tmpdir(), 'floe-sql-'))),
    async cleanup() {
      if (dir) await rm(await dir, { recursive: true, force: true });
    },
  };
}
