/**
 * Snapshot expiry of one table on `main` (Iceberg's `history.expire.*` properties and defaults), committed through
 * Nessie compare-and-swap. Only `main`'s metadata changes: every other Nessie reference keeps its own metadata, and
 * the janitor marks files from all of them, so expiring here never takes a file another branch or tag needs. No file
 * is deleted here; the report says how much main alone no longer reaches (what the janitor may reclaim).
 */
import { commitOnBranch, loadTable, type Catalog } from '../catalog/table-catalog.ts';
import {
  expireSnapshots,
  gcEnabled,
  planExpiry,
  type ExpiryOptions,
  type ExpiryPlan,
} from '../iceberg/expire-snapshots.ts';
import type { TableMetadata } from '../iceberg/types.ts';
import type { Logger } from '../runtime/logger.ts';
import { createMarker, markSnapshots, type ManifestCache } from './reachable-files.ts';
import { skippedTable, type TableResult } from './run-report.ts';
import { maintenanceCommit } from './maintained-tables.ts';
import type { FileIO } from '../storage/file-io.ts';

export interface ExpireOptions extends ExpiryOptions {
  log: Logger;
  dryRun?: boolean;
}

async function measure(
  io: FileIO,
  metadata: TableMetadata,
  cache: ManifestCache,
): Promise<{ files: number; bytes: number }> {
  const marker = createMarker(io, cache);
  await markSnapshots(marker, metadata);
  return { files: marker.files, bytes: marker.bytes };
}

export async function expireTable(catalog: Catalog, table: string, options: ExpireOptions): Promise<TableResult> {
  const loaded = await loadTable(catalog, 'main', table);
  if (!loaded) return skippedTable(table, 'not on main');
  if (!gcEnabled(loaded.metadata)) return skippedTable(table, 'gc.enabled=false');
  const cache: ManifestCache = new Map();
  const before = await measure(catalog.io, loaded.metadata, cache);
  let plan: ExpiryPlan = planExpiry(loaded.metadata, options);
  let after = loaded.metadata;
  let hash: string | undefined;
  if (!options.dryRun && (plan.expired.length || plan.removedRefs.length)) {
    const commit = await commitOnBranch(
      catalog,
      'main',
      new Map([[table, expireSnapshots({ ...options, onPlan: (p) => (plan = p) })]]),
      maintenanceCommit('expire', table, `expire ${plan.expired.length} snapshots`),
    );
    after = commit.states.get(table)?.metadata ?? plan.metadata;
    hash = commit.hash;
  } else {
    after = plan.metadata;
  }
  const measured = await measure(catalog.io, after, cache);
  const changed = plan.expired.length > 0 || plan.removedRefs.length > 0;
  return {
    table,
    outcome: !changed ? 'unchanged' : options.dryRun ? 'planned' : 'committed',
    filesBefore: before.files,
    bytesBefore: before.bytes,
    filesAfter: measured.files,
    bytesAfter: measured.bytes,
    removed: plan.expired.length,
    details: {
      snapshotsBefore: loaded.metadata.snapshots.length,
      snapshotsAfter: after.snapshots.length,
      expiredSnapshots: plan.expired.map((s) => String(s.snapshotId)),
      removedRefs: plan.removedRefs,
      ...(hash ? { hash } : {}),
    },
  };
}
