/**
 * Snapshot expiry (after Iceberg Java's `RemoveSnapshots`): which snapshots and refs of a table's metadata are kept,
 * by age and minimum count, with Iceberg's property names and defaults. Expiry only edits metadata; it never deletes
 * a file — files that no retained snapshot reaches any more are removed later by orphan cleanup, which also looks at
 * every other catalog reference.
 */
import { ValidationError, type TableUpdate } from './commit.ts';
import { ancestors } from './metadata.ts';
import { toLong } from '../util/lossless-json.ts';
import type { Snapshot, SnapshotRef, TableMetadata } from './types.ts';

export const ExpiryProperty = {
  maxSnapshotAgeMs: 'history.expire.max-snapshot-age-ms',
  minSnapshotsToKeep: 'history.expire.min-snapshots-to-keep',
  maxRefAgeMs: 'history.expire.max-ref-age-ms',
  gcEnabled: 'gc.enabled',
} as const;

/** Iceberg's defaults (Java `TableProperties`): 5 days, 1 snapshot, refs never expire. */
export const EXPIRY_DEFAULTS = {
  maxSnapshotAgeMs: 432_000_000,
  minSnapshotsToKeep: 1,
  maxRefAgeMs: Number.MAX_SAFE_INTEGER,
} as const;

export interface ExpiryOptions {
  /** Expire snapshots older than this age; default the table's `history.expire.max-snapshot-age-ms`. */
  maxSnapshotAgeMs?: number;
  /** The age for a table without `history.expire.max-snapshot-age-ms`; default Iceberg's (5 days). */
  defaultMaxSnapshotAgeMs?: number;
  /** Always keep this many ancestors of every branch head; default `history.expire.min-snapshots-to-keep`. */
  minSnapshotsToKeep?: number;
  now?: () => number;
}

export interface ExpiryPlan {
  expired: Snapshot[];
  /** Iceberg refs (tags/branches inside the metadata, never `main`) older than their max ref age. */
  removedRefs: string[];
  /** The metadata without them; `base` itself when nothing expires. */
  metadata: TableMetadata;
}

function numberProperty(metadata: TableMetadata, key: string, fallback: number): number {
  const text = metadata.properties[key];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new ValidationError(`table property ${key}='${text}' is not a non-negative number`);
  return value;
}

/** Whether the table allows garbage collection (`gc.enabled`, default true). */
export function gcEnabled(metadata: TableMetadata): boolean {
  return (metadata.properties[ExpiryProperty.gcEnabled] ?? 'true').trim().toLowerCase() !== 'false';
}

/** Decides what expires; pure: the same metadata and clock give the same plan. */
export function planExpiry(base: TableMetadata, options: ExpiryOptions = {}): ExpiryPlan {
  const now = (options.now ?? Date.now)();
  const maxAge =
    options.maxSnapshotAgeMs ??
    numberProperty(
      base,
      ExpiryProperty.maxSnapshotAgeMs,
      options.defaultMaxSnapshotAgeMs ?? EXPIRY_DEFAULTS.maxSnapshotAgeMs,
    );
  const minKeep =
    options.minSnapshotsToKeep ??
    numberProperty(base, ExpiryProperty.minSnapshotsToKeep, EXPIRY_DEFAULTS.minSnapshotsToKeep);
  const maxRefAge = numberProperty(base, ExpiryProperty.maxRefAgeMs, EXPIRY_DEFAULTS.maxRefAgeMs);
  const olderThan = now - maxAge;
  const byId = new Map(base.snapshots.map((s) => [s.snapshotId, s]));

  const refs: Record<string, SnapshotRef> = {};
  const removedRefs: string[] = [];
  for (const [name, ref] of Object.entries(base.refs)) {
    const head = byId.get(ref.snapshotId);
    const refAge = ref.maxRefAgeMs ?? maxRefAge;
    if (name !== 'main' && (!head || now - head.timestampMs > refAge)) removedRefs.push(name);
    else refs[name] = ref;
  }

  const retained = new Set<bigint>();
  const reachable = new Set<bigint>();
  for (const ref of Object.values(refs)) {
    if (ref.type === 'tag') {
      retained.add(ref.snapshotId);
      reachable.add(ref.snapshotId);
      continue;
    }
    const keep = ref.minSnapshotsToKeep ?? minKeep;
    const refOlderThan = ref.maxSnapshotAgeMs === undefined ? olderThan : now - ref.maxSnapshotAgeMs;
    let kept = 0;
    let retaining = true;
    for (const snapshot of ancestors(base, ref.snapshotId)) {
      reachable.add(snapshot.snapshotId);
      // Java keeps the head and walks back while either bound still asks for the ancestor, then stops for good.
      if (
        retaining &&
        (kept < keep || snapshot.timestampMs >= refOlderThan || snapshot.snapshotId === ref.snapshotId)
      ) {
        retained.add(snapshot.snapshotId);
        kept++;
      } else {
        retaining = false;
      }
    }
  }
  // Snapshots no ref reaches (e.g. staged or rolled back) are kept only while young.
  for (const snapshot of base.snapshots) {
    if (!reachable.has(snapshot.snapshotId) && snapshot.timestampMs >= olderThan) retained.add(snapshot.snapshotId);
  }

  const expired = base.snapshots.filter((s) => !retained.has(s.snapshotId));
  if (!expired.length && !removedRefs.length) return { expired, removedRefs, metadata: base };

  // Any expired entry cuts the history before it: a gap would make time travel answer with the wrong snapshot.
  const snapshotLog = [];
  for (const entry of base.snapshotLog) {
    if (retained.has(entry.snapshotId)) snapshotLog.push(entry);
    else snapshotLog.length = 0;
  }
  const keepStatistics = (list: unknown[] | undefined) =>
    list?.filter((s) => {
      const id = (s as Record<string, unknown>)['snapshot-id'];
      return id === undefined || retained.has(toLong(id, 'statistics snapshot-id'));
    });
  const metadata: TableMetadata = {
    ...base,
    refs,
    snapshots: base.snapshots.filter((s) => retained.has(s.snapshotId)),
    snapshotLog,
    ...(base.statistics ? { statistics: keepStatistics(base.statistics) } : {}),
    ...(base.partitionStatistics ? { partitionStatistics: keepStatistics(base.partitionStatistics) } : {}),
  };
  return { expired, removedRefs, metadata };
}

/**
 * The expiry as a commit-path update: re-planned on every attempt against the fresh base, so a snapshot committed
 * concurrently is simply kept. Throws `ValidationError` when the table disables GC (`gc.enabled=false`).
 */
export function expireSnapshots(options: ExpiryOptions & { onPlan?: (plan: ExpiryPlan) => void } = {}): TableUpdate {
  return async (base) => {
    if (!base) throw new ValidationError('cannot expire snapshots of a table that does not exist');
    if (!gcEnabled(base)) throw new ValidationError('snapshot expiry is disabled for this table (gc.enabled=false)');
    const plan = planExpiry(base, options);
    options.onPlan?.(plan);
    return plan.metadata;
  };
}
