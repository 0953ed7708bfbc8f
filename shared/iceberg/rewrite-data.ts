/**
 * Bin-pack compaction (after Iceberg Java's `SizeBasedFileRewritePlanner` / `BinPackRewriteFilePlanner` and
 * `RewriteDataFilesCommitManager`): per partition, data files outside [min, max] size (or with too many deletes) are
 * packed into groups — all of them once the partition's time range has ended, in size tiers while it is still
 * filling (`rewrite-selection.ts`) — and rewritten into files of about `write.target-file-size-bytes`, with the
 * deletes that apply to them applied, and swapped in by one `replace` snapshot that keeps the planned snapshot's data sequence number
 * and validates that every replaced file is still live and that no delete file arrived since planning.
 *
 * The three steps are separate so a caller controls the catalog side: `planRewriteDataFiles` → `rewriteFileGroup`
 * per group → `replaceDataFiles` as the commit-path update.
 */
import type { FileIO } from '../storage/file-io.ts';
import { ValidationError, type TableUpdate } from './commit.ts';
import { currentSchema, defaultSpec } from './metadata.ts';
import { partitionPath, sameLayout } from './partition.ts';
import { planScan, readTasks, type FileScanTask, type ScanPlan } from './scan.ts';
import { rewriteGroupWithDuckDB } from './rewrite-duckdb.ts';
import { rewriteFiles } from './snapshot.ts';
import { writeRows } from './writer.ts';
import { FileContent, type DataFile, type TableMetadata } from './types.ts';
import { stringifyJson } from '../util/lossless-json.ts';
import {
  expectedOutputFiles,
  partitionClosed,
  rewriteCandidates,
  selectFileGroups,
  type BinPackSettings,
} from './rewrite-selection.ts';

export { expectedOutputFiles };

export const TARGET_FILE_SIZE_PROPERTY = 'write.target-file-size-bytes';
export const DEFAULT_TARGET_FILE_SIZE = 512 * 1024 * 1024;

export type { BinPackSettings };

export const BIN_PACK_OPTIONS = [
  'target-file-size-bytes',
  'min-file-size-bytes',
  'max-file-size-bytes',
  'min-input-files',
  'max-file-group-size-bytes',
  'delete-file-threshold',
  'delete-ratio-threshold',
  'rewrite-all',
] as const;

function positive(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new ValidationError(`${name}='${text}' is not a non-negative number`);
  return value;
}

/**
 * Settings from the table (`write.target-file-size-bytes`, default 512 MiB) and explicit options, with Iceberg's
 * defaults: min 75 % and max 180 % of the target, 5 input files, 100 GiB groups, delete ratio 0.3.
 */
export function binPackSettings(
  metadata: TableMetadata,
  options: Partial<Record<(typeof BIN_PACK_OPTIONS)[number], string>> = {},
): BinPackSettings {
  const unknown = Object.keys(options).filter((k) => !(BIN_PACK_OPTIONS as readonly string[]).includes(k));
  if (unknown.length)
    throw new ValidationError(`unknown rewrite option(s) ${unknown.join(', ')}; known: ${BIN_PACK_OPTIONS.join(', ')}`);
  const tableTarget = metadata.properties[TARGET_FILE_SIZE_PROPERTY];
  const target =
    options['target-file-size-bytes'] !== undefined
      ? positive('target-file-size-bytes', options['target-file-size-bytes'])
      : tableTarget !== undefined
        ? positive(TARGET_FILE_SIZE_PROPERTY, tableTarget)
        : DEFAULT_TARGET_FILE_SIZE;
  const read = (name: (typeof BIN_PACK_OPTIONS)[number], fallback: number) =>
    options[name] === undefined ? fallback : positive(name, options[name]!);
  const settings: BinPackSettings = {
    'target-file-size-bytes': target,
    'min-file-size-bytes': read('min-file-size-bytes', Math.floor(target * 0.75)),
    'max-file-size-bytes': read('max-file-size-bytes', Math.floor(target * 1.8)),
    'min-input-files': read('min-input-files', 5),
    'max-file-group-size-bytes': read('max-file-group-size-bytes', 100 * 1024 ** 3),
    'delete-file-threshold': read('delete-file-threshold', 2 ** 31 - 1),
    'delete-ratio-threshold': read('delete-ratio-threshold', 0.3),
    'rewrite-all': (options['rewrite-all'] ?? 'false').trim().toLowerCase() === 'true',
  };
  if (!(settings['min-file-size-bytes'] <= target && target <= settings['max-file-size-bytes'])) {
    throw new ValidationError(
      `rewrite sizes must satisfy min ≤ target ≤ max, got ${settings['min-file-size-bytes']} / ${target} / ${settings['max-file-size-bytes']}`,
    );
  }
  if (settings['min-input-files'] < 1) throw new ValidationError('min-input-files must be at least 1');
  return settings;
}

export interface FileGroup {
  /** `name=value/...` of the partition (empty for an unpartitioned table). */
  partition: string;
  /** Whether the partition's time range had ended when planned: merged as a whole rather than in size tiers. */
  closed: boolean;
  tasks: FileScanTask[];
  inputBytes: number;
  inputRecords: number;
  /** Expected output bytes: the inputs' column-chunk bytes, without the per-file overhead small files carry. */
  estimatedBytes: number;
  /** Files the group is expected to be written as. */
  outputFiles: number;
}

export interface SkippedPartition {
  partition: string;
  files: number;
  reason: string;
}

export interface RewritePlan {
  /** The planned snapshot: its id validates the commit, its sequence number becomes the new files'. */
  scan: ScanPlan;
  settings: BinPackSettings;
  groups: FileGroup[];
  skipped: SkippedPartition[];
  /** Live data files and their bytes at the planned snapshot. */
  liveFiles: number;
  liveBytes: number;
}

function partitionLabel(metadata: TableMetadata, task: FileScanTask): string {
  return task.spec.fields.length ? partitionPath(task.spec, currentSchema(metadata), task.file.partition) : '';
}

function partitionGroupKey(task: FileScanTask): string {
  return `${task.spec.specId}:${stringifyJson(task.file.partition.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : (v ?? null))))}`;
}

/** Why floe cannot rewrite this partition's files itself (it reads and applies Parquet files only), or undefined. */
function unsupported(tasks: FileScanTask[]): string | undefined {
  const data = tasks.find((t) => t.file.fileFormat.toUpperCase() !== 'PARQUET');
  if (data) return `data file ${data.file.filePath} is ${data.file.fileFormat}, not Parquet`;
  for (const task of tasks) {
    const del = task.deletes.find((d) => d.file.fileFormat.toUpperCase() !== 'PARQUET');
    if (del)
      return `delete file ${del.file.filePath} is ${del.file.fileFormat}: its deletes cannot be applied while rewriting`;
  }
  return undefined;
}

/** A file's column-chunk bytes (its size without footer and page-index overhead) when its metrics have them. */
function dataBytes(file: DataFile): number {
  const columns = [...(file.columnSizes?.values() ?? [])].reduce((s, n) => s + n, 0);
  return columns > 0 && columns <= file.fileSizeInBytes ? columns : file.fileSizeInBytes;
}

/**
 * Plans the rewrite of a branch head (default `main`): the file groups worth rewriting and the partitions skipped.
 * `now` (default the clock) tells which time partitions are closed; see `rewrite-selection.ts` for the selection.
 */
export async function planRewriteDataFiles(
  metadata: TableMetadata,
  options: { io: FileIO; settings?: BinPackSettings; ref?: string; now?: number },
): Promise<RewritePlan> {
  const settings = options.settings ?? binPackSettings(metadata);
  const now = options.now ?? Date.now();
  const scan = await planScan(metadata, { io: options.io, ref: options.ref ?? 'main' });
  const byPartition = new Map<string, FileScanTask[]>();
  for (const task of scan.tasks) {
    const key = partitionGroupKey(task);
    const list = byPartition.get(key) ?? [];
    list.push(task);
    byPartition.set(key, list);
  }
  const plan: RewritePlan = {
    scan,
    settings,
    groups: [],
    skipped: [],
    liveFiles: scan.tasks.length,
    liveBytes: scan.tasks.reduce((s, t) => s + t.file.fileSizeInBytes, 0),
  };
  const outdatedGroups: FileGroup[] = [];
  for (const tasks of byPartition.values()) {
    const partition = partitionLabel(metadata, tasks[0]);
    // Files of an earlier spec are all rewritten, into the current one, as Java's planner takes files whose spec is
    // not the output spec: a partitioning change (e.g. hour → day) then takes hold of the data already written too.
    const outdated = !sameLayout(tasks[0].spec, defaultSpec(metadata));
    const groupSettings = outdated ? { ...settings, 'rewrite-all': true } : settings;
    const candidates = rewriteCandidates(tasks, groupSettings);
    if (!candidates.length) continue;
    const reason = unsupported(candidates);
    if (reason) {
      plan.skipped.push({ partition, files: candidates.length, reason });
      continue;
    }
    const closed = outdated || partitionClosed(tasks[0].spec, tasks[0].file.partition, now);
    for (const group of selectFileGroups(candidates, groupSettings, { closed })) {
      const estimatedBytes = group.reduce((s, t) => s + dataBytes(t.file), 0);
      (outdated ? outdatedGroups : plan.groups).push({
        partition,
        closed,
        tasks: group,
        inputBytes: group.reduce((s, t) => s + t.file.fileSizeInBytes, 0),
        inputRecords: group.reduce((s, t) => s + t.file.recordCount, 0),
        estimatedBytes,
        outputFiles: expectedOutputFiles(estimatedBytes, settings),
      });
    }
  }
  plan.groups.push(...outdatedWithinBudget(outdatedGroups, plan));
  return plan;
}

/**
 * The groups of earlier-spec files one run takes, oldest partitions first: about a target file's bytes per run, so a
 * large table's migration to a new spec commits in steps within the compactor's time limit instead of never; the
 * rest is reported as skipped and taken by the next runs.
 */
function outdatedWithinBudget(groups: FileGroup[], plan: RewritePlan): FileGroup[] {
  const budget = plan.settings['target-file-size-bytes'];
  const sorted = [...groups].sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
  const taken: FileGroup[] = [];
  let bytes = 0;
  for (const group of sorted) {
    if (taken.length && bytes + group.inputBytes > budget) {
      plan.skipped.push({
        partition: group.partition,
        files: group.tasks.length,
        reason: `files of an earlier partition spec, left for a later run (${budget} bytes of them per run)`,
      });
      continue;
    }
    taken.push(group);
    bytes += group.inputBytes;
  }
  return taken;
}

/**
 * `js` decodes rows and writes them with floe's Parquet writer (always applicable, no native dependency); `duckdb`
 * copies the group with DuckDB where that gives the same rows and metrics (`rewrite-duckdb.ts`), else falls back to
 * `js`; `duckdb-bloom` also copies tables that ask for bloom filters with DuckDB, whose files then come out larger
 * (DuckDB filters only dictionary-encoded chunks, so every column gets a dictionary): less compaction CPU for more
 * bytes stored and scanned, an opt-in trade.
 */
export type RewriteEngine = 'js' | 'duckdb' | 'duckdb-bloom';
export const REWRITE_ENGINES: readonly RewriteEngine[] = ['duckdb', 'duckdb-bloom', 'js'];

export interface RewriteGroupOptions {
  /** Default `js`. */
  engine?: RewriteEngine;
  /** Called when the `duckdb` engine cannot take a group, with the reason. */
  onFallback?: (reason: string) => void;
}

/**
 * Reads a group's rows (deletes applied) and writes them as files of about the target size, holding one output file's
 * rows in memory at a time. Like Java's rolling writer it sizes files by bytes, not by the planned count: rows per
 * file start from the planned estimate and follow the bytes per row actually written; a file that comes out below
 * the minimum size while rows remain is taken back and written again with more rows.
 */
export async function rewriteFileGroup(
  io: FileIO,
  metadata: TableMetadata,
  plan: RewritePlan,
  group: FileGroup,
  options: RewriteGroupOptions = {},
): Promise<DataFile[]> {
  const engine = options.engine ?? 'js';
  if (engine !== 'js') {
    const copied = await rewriteGroupWithDuckDB(io, metadata, plan, group, {
      bloomFilters: engine === 'duckdb-bloom',
      outputFiles: (bytes) => expectedOutputFiles(bytes, plan.settings),
      sizes: { min: plan.settings['min-file-size-bytes'], max: plan.settings['max-file-size-bytes'] },
    });
    if (copied.files) return copied.files;
    options.onFallback?.(copied.fallback ?? 'unknown');
  }
  const minBytes = plan.settings['min-file-size-bytes'];
  let remaining = group.inputRecords;
  let bytesPerRow = group.estimatedBytes / Math.max(1, group.inputRecords);
  const rowsPerFile = () =>
    Math.max(1, Math.ceil(remaining / expectedOutputFiles(remaining * bytesPerRow, plan.settings)));
  let limit = rowsPerFile();
  const written: DataFile[] = [];
  let buffer: Record<string, unknown>[] = [];
  let retaken = false;
  const flush = async (last: boolean) => {
    const files = await writeRows(io, metadata, buffer);
    const bytes = files.reduce((s, f) => s + f.fileSizeInBytes, 0);
    bytesPerRow = bytes / buffer.length;
    // Once per output file, and only if the corrected estimate really wants more rows in it.
    if (!last && !retaken && bytes < minBytes && rowsPerFile() > buffer.length) {
      await io.deleteMany(files.map((f) => f.filePath));
      limit = rowsPerFile();
      retaken = true;
      return;
    }
    retaken = false;
    written.push(...files);
    remaining = Math.max(0, remaining - buffer.length);
    limit = rowsPerFile();
    buffer = [];
  };
  try {
    for await (const batch of readTasks({ ...plan.scan, tasks: group.tasks }, metadata, { io })) {
      for (const row of batch) {
        buffer.push(row);
        if (buffer.length >= limit) await flush(false);
      }
    }
    if (buffer.length) await flush(true);
  } catch (err) {
    await io.deleteMany(written.map((f) => f.filePath)).catch(() => undefined);
    throw err;
  }
  return written;
}

export interface ReplaceOptions {
  io: FileIO;
  carrySummaryPrefixes?: string[];
  summary?: Record<string, string>;
  now?: () => number;
}

/** The commit-path update that swaps the groups' files for the rewritten ones, validated against the planned snapshot. */
export function replaceDataFiles(
  plan: RewritePlan,
  groups: FileGroup[],
  added: DataFile[],
  options: ReplaceOptions,
): TableUpdate {
  const snapshot = plan.scan.snapshot;
  if (!snapshot) throw new ValidationError('nothing to replace: the planned table has no snapshot');
  if (added.some((f) => f.content !== FileContent.DATA)) throw new ValidationError('a rewrite adds data files only');
  return rewriteFiles({
    io: options.io,
    operation: 'replace',
    deleted: groups.flatMap((g) => g.tasks.map((t) => t.file.filePath)),
    added,
    validateFromSnapshotId: snapshot.snapshotId,
    dataSequenceNumber: snapshot.sequenceNumber,
    ...(options.carrySummaryPrefixes ? { carrySummaryPrefixes: options.carrySummaryPrefixes } : {}),
    ...(options.summary ? { summary: options.summary } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
