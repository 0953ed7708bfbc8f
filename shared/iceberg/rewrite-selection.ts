/**
 * Which of a partition's data files a bin-pack rewrite takes, and in which groups.
 *
 * Iceberg Java's rule (`SizeBasedFileRewritePlanner`) rewrites every file below `min-file-size-bytes` (75 % of the
 * target) together once there are `min-input-files` of them. With a 512 MiB target no day of a streaming table ever
 * reaches that size, so under an hourly compaction the open partition's ever-growing file was merged with the hour's
 * new small files and written again every hour: over a day each row was rewritten about twelve times.
 *
 * Here that rule applies only to partitions whose time range has ended (`partitionClosed`), and to every partition
 * with `rewrite-all`; a closed partition's last few files are merged too (`closingMerge`). A partition that is still
 * filling is compacted in size tiers, as a size-tiered LSM tree is: its candidate files are sorted by size and cut
 * into tiers wherever a file is more than `tierSpread` times the next smaller one, and a tier is rewritten only when
 * it would be on its own under Java's rule (`min-input-files` files, more than a target file of bytes, an oversized
 * file, too many deletes). So each compaction merges the files that arrived since the last one into one file, those
 * files merge once `min-input-files` of them have piled up, and so on; the larger files are left alone until the
 * partition closes and is merged as a whole. Smaller files left over go along with the next tier that is rewritten,
 * as their extra bytes are negligible there.
 */
import { parseTransform } from './transforms.ts';
import type { FileScanTask } from './scan.ts';
import type { PartitionSpec, PartitionValues } from './types.ts';

/** The rewrite options under Iceberg's names (`RewriteDataFiles` / `SizeBasedFileRewritePlanner`). */
export interface BinPackSettings {
  'target-file-size-bytes': number;
  'min-file-size-bytes': number;
  'max-file-size-bytes': number;
  'min-input-files': number;
  'max-file-group-size-bytes': number;
  'delete-file-threshold': number;
  'delete-ratio-threshold': number;
  'rewrite-all': boolean;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** When the range of a time-transform partition value ends (ms since the epoch), or undefined for other transforms. */
function rangeEnd(transform: string, value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) return undefined;
  switch (parseTransform(transform).kind) {
    case 'hour':
      return (n + 1) * HOUR_MS;
    case 'day':
      return (n + 1) * DAY_MS;
    case 'month':
      return Date.UTC(1970, n + 1, 1);
    case 'year':
      return Date.UTC(1970 + n + 1, 0, 1);
    default:
      return undefined;
  }
}

/**
 * Whether no more rows are expected in this partition: some hour/day/month/year field of its spec covers a time
 * range that ended at or before `now`. Partitions without such a field (identity, bucket, unpartitioned) never close;
 * they stay tiered. Late rows can still arrive in a closed partition; they are then merged by Java's rule. A
 * `timestamp` column without zone is partitioned by its wall-clock value, taken here as UTC.
 */
export function partitionClosed(spec: PartitionSpec, partition: PartitionValues, now: number): boolean {
  return spec.fields.some((field, i) => {
    const end = rangeEnd(field.transform, partition[i]);
    return end !== undefined && end <= now;
  });
}

/** Deleted-row share known from file-scoped position deletes (Java `tooHighDeleteRatio`). */
function deleteRatio(task: FileScanTask): number {
  if (!task.deletes.length || task.file.recordCount === 0) return 0;
  const known = task.deletes
    .filter((d) => d.file.referencedDataFile === task.file.filePath)
    .reduce((sum, d) => sum + d.file.recordCount, 0);
  return Math.min(known, task.file.recordCount) / task.file.recordCount;
}

export function tooManyDeletes(task: FileScanTask, s: BinPackSettings): boolean {
  return (
    task.deletes.length >= s['delete-file-threshold'] ||
    (task.deletes.length > 0 && deleteRatio(task) >= s['delete-ratio-threshold'])
  );
}

/** Files outside [min, max] size or with too many deletes (Java `filterFiles`); every file with `rewrite-all`. */
export function rewriteCandidates(tasks: FileScanTask[], s: BinPackSettings): FileScanTask[] {
  return tasks.filter(
    (t) =>
      s['rewrite-all'] ||
      t.file.fileSizeInBytes < s['min-file-size-bytes'] ||
      t.file.fileSizeInBytes > s['max-file-size-bytes'] ||
      tooManyDeletes(t, s),
  );
}

/** Bin-packs in order with lookback 1 (Java `BinPacking.ListPacker(maxGroupSize, 1, false)`). */
function packGroups(tasks: FileScanTask[], maxBytes: number): FileScanTask[][] {
  const groups: FileScanTask[][] = [];
  let current: FileScanTask[] = [];
  let size = 0;
  for (const task of tasks) {
    if (current.length && size + task.file.fileSizeInBytes > maxBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(task);
    size += task.file.fileSizeInBytes;
  }
  if (current.length) groups.push(current);
  return groups;
}

/** Java `expectedOutputFiles`: round down when spreading the remainder keeps files ≤ min(1.1 × target, write max). */
export function expectedOutputFiles(inputBytes: number, s: BinPackSettings): number {
  const target = s['target-file-size-bytes'];
  if (inputBytes < target) return 1;
  const withRemainder = Math.ceil(inputBytes / target);
  const withoutRemainder = Math.floor(inputBytes / target);
  const writeMax = target + 0.5 * (s['max-file-size-bytes'] - target);
  if (inputBytes % target > s['min-file-size-bytes']) return withRemainder;
  return inputBytes / withoutRemainder < Math.min(1.1 * target, writeMax) ? withoutRemainder : withRemainder;
}

/**
 * Whether merging the files leaves fewer of them. Without this, two files that together exceed the target (e.g. 350 +
 * 350 MiB for 512) would be written again as two files of the same size, and picked again on every run.
 */
function fewerFiles(tasks: FileScanTask[], bytes: number, s: BinPackSettings): boolean {
  return expectedOutputFiles(bytes, s) < tasks.length;
}

/** Java's rule for a group; `rewritten` (default the group) is what would be written, for the fewer-files check. */
function worthRewriting(tasks: FileScanTask[], s: BinPackSettings, rewritten: FileScanTask[] = tasks): boolean {
  const n = tasks.length;
  const bytes = tasks.reduce((sum, t) => sum + t.file.fileSizeInBytes, 0);
  const fewer = () =>
    fewerFiles(
      rewritten,
      rewritten.reduce((sum, t) => sum + t.file.fileSizeInBytes, 0),
      s,
    );
  return (
    (n > 1 && n >= s['min-input-files'] && fewer()) ||
    (n > 1 && bytes > s['target-file-size-bytes'] && fewer()) ||
    bytes > s['max-file-size-bytes'] ||
    tasks.some((t) => tooManyDeletes(t, s)) ||
    (s['rewrite-all'] && n > 0)
  );
}

/**
 * Whether a closed partition's files are merged although fewer than `min-input-files`: its tiers become one file
 * when it closes, unless that would mostly copy one large file again for a few late rows, so the files besides the
 * largest must hold at least 1/(min-input-files − 1) of its bytes (a quarter by default).
 */
function closingMerge(tasks: FileScanTask[], s: BinPackSettings): boolean {
  if (tasks.length < 2) return false;
  const sizes = tasks.map((t) => t.file.fileSizeInBytes);
  const largest = Math.max(...sizes);
  const total = sizes.reduce((sum, n) => sum + n, 0);
  return (total - largest) * Math.max(1, s['min-input-files'] - 1) >= largest && fewerFiles(tasks, total, s);
}

/**
 * The size ratio that separates two tiers. It stays below `min-input-files` so the file a tier's files merge into is
 * not counted with them again, and leaves room for files of one tier to differ as hourly volumes do.
 */
export function tierSpread(s: BinPackSettings): number {
  return Math.max(1.5, Math.sqrt(s['min-input-files']));
}

/** A partition's candidate files cut into size tiers, smallest first. */
export function sizeTiers(candidates: FileScanTask[], s: BinPackSettings): FileScanTask[][] {
  const spread = tierSpread(s);
  const sorted = [...candidates].sort(
    (a, b) =>
      a.file.fileSizeInBytes - b.file.fileSizeInBytes ||
      (a.file.filePath < b.file.filePath ? -1 : a.file.filePath > b.file.filePath ? 1 : 0),
  );
  const tiers: FileScanTask[][] = [];
  let previous = 0;
  for (const task of sorted) {
    const size = task.file.fileSizeInBytes;
    if (!tiers.length || size > previous * spread) tiers.push([]);
    tiers[tiers.length - 1].push(task);
    previous = Math.max(size, 1);
  }
  return tiers;
}

/**
 * The groups of one partition's live files that a rewrite takes: Java's bin-pack of every candidate for a closed
 * partition (or with `rewrite-all`), size tiers for one still filling. Input order is kept within a closed
 * partition's groups, as Java's packer keeps it.
 */
export function selectFileGroups(
  tasks: FileScanTask[],
  s: BinPackSettings,
  options: { closed: boolean },
): FileScanTask[][] {
  const candidates = rewriteCandidates(tasks, s);
  if (!candidates.length) return [];
  if (options.closed || s['rewrite-all'])
    return packGroups(candidates, s['max-file-group-size-bytes']).filter(
      (g) => worthRewriting(g, s) || (options.closed && closingMerge(g, s)),
    );
  const groups: FileScanTask[][] = [];
  let carried: FileScanTask[] = [];
  for (const tier of sizeTiers(candidates, s)) {
    if (!worthRewriting(tier, s, carried.concat(tier))) {
      carried = carried.concat(tier);
      continue;
    }
    groups.push(
      ...packGroups(carried.concat(tier), s['max-file-group-size-bytes']).filter((g) => worthRewriting(g, s)),
    );
    carried = [];
  }
  return groups;
}
