/**
 * Table scans: plan the data files of a snapshot (or a ref) with partition and column-metrics pruning, attach the
 * delete files that apply to each (spec sequence-number and partition scoping), then read rows by field id with the
 * deletes applied, the filter evaluated exactly, and only the requested columns returned.
 */
import type { FileIO } from '../storage/file-io.ts';
import {
  alwaysTrue,
  bind,
  evaluate,
  fileStats,
  mightMatch,
  summaryStats,
  type BoundExpression,
  type BoundRef,
  type ColumnStats,
  type ComparisonOp,
  type Expression,
} from './expressions.ts';
import { currentSchema, schemaForSnapshot, snapshotById, snapshotForRef, specById } from './metadata.ts';
import { NAME_MAPPING_PROPERTY, parseNameMapping } from './name-mapping.ts';
import {
  DELETE_FILE_PATH_FIELD_ID,
  DELETE_FILE_POS_FIELD_ID,
  ROW_POSITION_FIELD_ID,
  readDataFile,
  readDataFileBatches,
} from './parquet-reader.ts';
import { partitionType } from './partition.ts';
import { IcebergFormatError, indexById } from './schema.ts';
import { readManifestEntries, readManifestFiles } from './snapshot.ts';
import { parseTransform, projectComparison, type Comparison } from './transforms.ts';
import {
  EntryStatus,
  FileContent,
  ManifestContent,
  type DataFile,
  type NestedField,
  type PartitionSpec,
  type PrimitiveType,
  type Schema,
  type Snapshot,
  type TableMetadata,
} from './types.ts';
import { bareObject } from '../util/bare-object.ts';

export interface ScanOptions {
  io: FileIO;
  /** Time travel: read this snapshot (with the schema it was written with). */
  snapshotId?: bigint;
  /** Iceberg ref inside the table metadata (default `main`). */
  ref?: string;
  filter?: Expression;
  /** Top-level column names to return (default all). */
  columns?: string[];
}

export interface DeleteFile {
  file: DataFile;
  sequenceNumber: number;
}

export interface FileScanTask {
  file: DataFile;
  spec: PartitionSpec;
  /** The data sequence number the file was added with. */
  sequenceNumber: number;
  deletes: DeleteFile[];
}

export interface ScanPlan {
  snapshot?: Snapshot;
  schema: Schema;
  tasks: FileScanTask[];
  filter: BoundExpression;
  /** Files skipped by partition or metrics pruning. */
  prunedFiles: number;
}

const OPS: Record<Exclude<ComparisonOp, 'notEq'>, Comparison> = { eq: '=', lt: '<', ltEq: '<=', gt: '>', gtEq: '>=' };
const BACK: Record<Comparison, Exclude<ComparisonOp, 'notEq'>> = {
  '=': 'eq',
  '<': 'lt',
  '<=': 'ltEq',
  '>': 'gt',
  '>=': 'gtEq',
};

/** Inclusive projection of a row filter onto a spec's partition values (refs become partition fields). */
export function projectFilter(expr: BoundExpression, spec: PartitionSpec, schema: Schema): BoundExpression {
  const resultTypes = new Map(partitionType(spec, schema).fields.map((f) => [f.id, f.type as PrimitiveType]));
  const partitionRef = (fieldId: number, name: string): BoundRef => ({
    id: fieldId,
    name,
    type: resultTypes.get(fieldId)!,
  });
  const fieldsOf = (sourceId: number) => spec.fields.filter((f) => f.sourceId === sourceId);
  const conjunction = (args: BoundExpression[]): BoundExpression =>
    args.length ? { op: 'and', args } : { op: 'true' };

  const project = (e: BoundExpression): BoundExpression => {
    switch (e.op) {
      case 'and':
        return { op: 'and', args: e.args.map(project) };
      case 'or':
        return { op: 'or', args: e.args.map(project) };
      case 'isNull':
      case 'notNull':
        // every transform maps null to null and non-null to non-null
        return conjunction(
          fieldsOf(e.ref.id)
            .filter((f) => parseTransform(f.transform).kind !== 'void')
            .map((f) => ({ op: e.op, ref: partitionRef(f.fieldId, f.name) })),
        );
      case 'eq':
      case 'lt':
      case 'ltEq':
      case 'gt':
      case 'gtEq': {
        const out: BoundExpression[] = [];
        for (const f of fieldsOf(e.ref.id)) {
          const projected = projectComparison(f.transform, e.ref.type, OPS[e.op], e.value);
          if (projected)
            out.push({ op: BACK[projected.op], ref: partitionRef(f.fieldId, f.name), value: projected.value });
        }
        return conjunction(out);
      }
      case 'in':
        return { op: 'or', args: e.values.map((value) => project({ op: 'eq', ref: e.ref, value })) };
      default:
        // negations and other predicates cannot be projected inclusively in general: keep everything
        return { op: 'true' };
    }
  };
  return project(expr);
}

function partitionKey(file: DataFile): string {
  return `${file.specId}|${file.partition.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v === null || v === undefined ? '∅' : String(v))).join('|')}`;
}

/** Plans a scan: the live data files that may match, each with the delete files that apply to it. */
export async function planScan(metadata: TableMetadata, options: ScanOptions): Promise<ScanPlan> {
  const snapshot =
    options.snapshotId !== undefined
      ? snapshotById(metadata, options.snapshotId)
      : snapshotForRef(metadata, options.ref ?? 'main');
  if (options.snapshotId !== undefined && !snapshot)
    throw new IcebergFormatError(`table has no snapshot ${options.snapshotId}`);
  const schema = options.snapshotId !== undefined ? schemaForSnapshot(metadata, snapshot) : currentSchema(metadata);
  const filter = bind(options.filter ?? alwaysTrue, schema);
  const plan: ScanPlan = { snapshot, schema, tasks: [], filter, prunedFiles: 0 };
  if (!snapshot) return plan;

  const data: FileScanTask[] = [];
  const deletes: { file: DataFile; sequenceNumber: number }[] = [];
  const projections = new Map<number, BoundExpression>();
  const projectionFor = (specId: number) => {
    let projected = projections.get(specId);
    if (!projected) projections.set(specId, (projected = projectFilter(filter, specById(metadata, specId), schema)));
    return projected;
  };

  for (const manifest of await readManifestFiles(options.io, snapshot)) {
    const spec = specById(metadata, manifest.partitionSpecId);
    if (manifest.content === ManifestContent.DATA) {
      const types = partitionType(spec, schema).fields;
      const summaries = manifest.partitions;
      const manifestMayMatch = mightMatch(projectionFor(spec.specId), (ref) => {
        const index = types.findIndex((f) => f.id === ref.id);
        return index < 0 ? undefined : summaryStats(summaries?.[index], ref.type);
      });
      if (!manifestMayMatch) {
        plan.prunedFiles += manifest.addedFilesCount + manifest.existingFilesCount;
        continue;
      }
    }
    for (const entry of await readManifestEntries(options.io, manifest, metadata)) {
      if (entry.status === EntryStatus.DELETED) continue;
      const file = entry.dataFile;
      const sequenceNumber = entry.sequenceNumber ?? 0;
      if (file.content !== FileContent.DATA) {
        deletes.push({ file, sequenceNumber });
        continue;
      }
      if (
        !partitionMightMatch(projectionFor(spec.specId), spec, schema, file) ||
        !mightMatch(filter, fileStats(file))
      ) {
        plan.prunedFiles++;
        continue;
      }
      data.push({ file, spec, sequenceNumber, deletes: [] });
    }
  }
  for (const task of data) task.deletes = deletesFor(task, deletes, metadata);
  plan.tasks = data;
  return plan;
}

function partitionMightMatch(projected: BoundExpression, spec: PartitionSpec, schema: Schema, file: DataFile): boolean {
  if (projected.op === 'true') return true;
  const ids = partitionType(spec, schema).fields.map((f) => f.id);
  return mightMatch(projected, (ref): ColumnStats | undefined => {
    const index = ids.indexOf(ref.id);
    if (index < 0) return undefined;
    const value = file.partition[index];
    const isNull = value === null || value === undefined;
    return {
      lower: isNull ? undefined : value,
      upper: isNull ? undefined : value,
      mayHaveNull: isNull,
      mayHaveNonNull: !isNull,
      mayHaveNaN: typeof value === 'number' && Number.isNaN(value),
    };
  });
}

/** Spec scoping of deletes: position deletes apply at ≤ their sequence number, equality deletes at <, same partition (or a global equality delete). */
function deletesFor(task: FileScanTask, deletes: DeleteFile[], metadata: TableMetadata): DeleteFile[] {
  const key = partitionKey(task.file);
  return deletes.filter(({ file, sequenceNumber }) => {
    if (file.content === FileContent.POSITION_DELETES) {
      if (sequenceNumber < task.sequenceNumber) return false;
      if (file.referencedDataFile) return file.referencedDataFile === task.file.filePath;
      return partitionKey(file) === key;
    }
    if (sequenceNumber <= task.sequenceNumber) return false;
    const deleteSpec = specById(metadata, file.specId);
    return deleteSpec.fields.length === 0 || partitionKey(file) === key;
  });
}

const POSITION_DELETE_SCHEMA: Schema = {
  type: 'struct',
  schemaId: 0,
  fields: [
    { id: DELETE_FILE_PATH_FIELD_ID, name: 'file_path', required: true, type: 'string' },
    { id: DELETE_FILE_POS_FIELD_ID, name: 'pos', required: true, type: 'long' },
  ],
};

const ROW_POSITION: NestedField = { id: ROW_POSITION_FIELD_ID, name: '_pos', required: true, type: 'long' };

function keyOf(values: unknown[]): string {
  return values
    .map((v) =>
      v instanceof Uint8Array
        ? `b:${Buffer.from(v).toString('hex')}`
        : v === null || v === undefined
          ? '∅'
          : `${typeof v}:${String(v)}`,
    )
    .join('\u0000');
}

/** Reads delete files once per scan and answers "is this row deleted?" per data file. */
function deleteIndex(io: FileIO, schema: Schema) {
  const positionFiles = new Map<string, Promise<Map<string, Set<bigint>>>>();
  const equalityFiles = new Map<string, Promise<{ ids: number[]; keys: Set<string> }>>();
  const fieldsById = indexById(schema);

  const positions = (file: DataFile) => {
    let loaded = positionFiles.get(file.filePath);
    if (!loaded) {
      loaded = readDataFile(io, {
        location: file.filePath,
        schema: POSITION_DELETE_SCHEMA,
        fileSize: file.fileSizeInBytes,
      }).then((rows) => {
        const byPath = new Map<string, Set<bigint>>();
        for (const row of rows) {
          const path = row.file_path as string;
          let set = byPath.get(path);
          if (!set) byPath.set(path, (set = new Set()));
          set.add(row.pos as bigint);
        }
        return byPath;
      });
      positionFiles.set(file.filePath, loaded);
    }
    return loaded;
  };

  const equality = (file: DataFile) => {
    let loaded = equalityFiles.get(file.filePath);
    if (!loaded) {
      const ids = file.equalityIds ?? [];
      if (!ids.length) throw new IcebergFormatError(`equality delete file ${file.filePath} has no equality_ids`);
      const fields = ids.map((id) => {
        const field = fieldsById.get(id)?.field;
        if (!field)
          throw new IcebergFormatError(
            `equality delete file ${file.filePath}: field id ${id} is not a column of the table`,
          );
        return { ...field, required: false };
      });
      loaded = readDataFile(io, {
        location: file.filePath,
        schema: { type: 'struct', schemaId: 0, fields },
        fileSize: file.fileSizeInBytes,
      }).then((rows) => ({ ids, keys: new Set(rows.map((row) => keyOf(fields.map((f) => row[f.name])))) }));
      equalityFiles.set(file.filePath, loaded);
    }
    return loaded;
  };

  return async (task: FileScanTask) => {
    const deletedPositions = new Set<bigint>();
    const equalitySets: { names: string[]; keys: Set<string> }[] = [];
    for (const d of task.deletes) {
      if (d.file.content === FileContent.POSITION_DELETES) {
        for (const pos of (await positions(d.file)).get(task.file.filePath) ?? []) deletedPositions.add(pos);
      } else {
        const { ids, keys } = await equality(d.file);
        equalitySets.push({ names: ids.map((id) => fieldsById.get(id)!.field!.name), keys });
      }
    }
    return {
      needsPosition: deletedPositions.size > 0,
      equalityColumns: equalitySets.flatMap((s) => s.names),
      isDeleted: (row: Record<string, unknown>) =>
        (deletedPositions.size > 0 && deletedPositions.has(row._pos as bigint)) ||
        equalitySets.some((s) => s.keys.has(keyOf(s.names.map((n) => row[n])))),
    };
  };
}

/** Scans a table: rows in batches (one row group at a time), deletes applied, filter evaluated, columns projected. */
export async function* scanBatches(
  metadata: TableMetadata,
  options: ScanOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  const plan = await planScan(metadata, options);
  yield* readTasks(plan, metadata, options);
}

/** Reads planned tasks (used by scans and by maintenance, which rewrites exactly what it planned). */
export async function* readTasks(
  plan: ScanPlan,
  metadata: TableMetadata,
  options: Pick<ScanOptions, 'io' | 'columns'>,
): AsyncGenerator<Record<string, unknown>[]> {
  const { schema, filter } = plan;
  const wanted = options.columns ?? schema.fields.map((f) => f.name);
  for (const name of wanted) {
    if (!schema.fields.some((f) => f.name === name)) throw new IcebergFormatError(`unknown column '${name}'`);
  }
  const nameMappingText = metadata.properties[NAME_MAPPING_PROPERTY];
  const nameMapping = nameMappingText ? parseNameMapping(nameMappingText) : undefined;
  const deletesOf = deleteIndex(options.io, schema);
  const filterColumns = new Set<string>();
  collectRefs(filter, filterColumns);

  for (const task of plan.tasks) {
    const deletes = await deletesOf(task);
    const columns = new Set([...wanted, ...filterColumns, ...deletes.equalityColumns]);
    const fields = schema.fields.filter((f) => columns.has(f.name));
    const readSchema: Schema = { ...schema, fields: deletes.needsPosition ? [...fields, ROW_POSITION] : fields };
    const constants = identityConstants(task, schema);
    for await (const batch of readDataFileBatches(options.io, {
      location: task.file.filePath,
      schema: readSchema,
      fileSize: task.file.fileSizeInBytes,
      constants,
      ...(nameMapping ? { nameMapping } : {}),
    })) {
      const out: Record<string, unknown>[] = [];
      for (const row of batch) {
        if (deletes.isDeleted(row)) continue;
        if (filter.op !== 'true' && !evaluate(filter, (id) => row[fieldName(schema, id)])) continue;
        const projected = bareObject();
        for (const name of wanted) projected[name] = row[name];
        out.push(projected);
      }
      if (out.length) yield out;
    }
  }
}

const nameCache = new WeakMap<Schema, Map<number, string>>();
function fieldName(schema: Schema, id: number): string {
  let names = nameCache.get(schema);
  if (!names)
    nameCache.set(schema, (names = new Map([...indexById(schema)].map(([fid, f]) => [fid, f.path.join('.')]))));
  return names.get(id)!;
}

function collectRefs(expr: BoundExpression, into: Set<string>): void {
  if ('ref' in expr) into.add(expr.ref.name.split('.')[0]);
  if ('args' in expr) expr.args.forEach((a) => collectRefs(a, into));
  if (expr.op === 'not') collectRefs(expr.arg, into);
}

/** Identity-partition values, for source columns a data file does not contain (spec projection rule). */
function identityConstants(task: FileScanTask, schema: Schema): Map<number, unknown> {
  const constants = new Map<number, unknown>();
  task.spec.fields.forEach((f, i) => {
    if (parseTransform(f.transform).kind === 'identity' && indexById(schema).has(f.sourceId))
      constants.set(f.sourceId, task.file.partition[i]);
  });
  return constants;
}

/** All rows (up to `limit`) of a scan. */
export async function scanRows(
  metadata: TableMetadata,
  options: ScanOptions & { limit?: number },
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const batch of scanBatches(metadata, options)) {
    for (const row of batch) {
      if (options.limit !== undefined && rows.length >= options.limit) return rows;
      rows.push(row);
    }
  }
  return rows;
}
