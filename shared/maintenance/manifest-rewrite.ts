/** Manifest rewrite of one table on `main`: small manifests merged toward `commit.manifest.target-size-bytes`. */
import { commitOnBranch, loadTable, type Catalog } from '../catalog/table-catalog.ts';
import {
  manifestTargetSize,
  rewriteManifests,
  smallManifests,
  type ManifestRewrite,
} from '../iceberg/rewrite-manifests.ts';
import { snapshotForRef } from '../iceberg/metadata.ts';
import { readManifestFiles } from '../iceberg/snapshot.ts';
import type { ManifestFile } from '../iceberg/types.ts';
import type { Logger } from '../runtime/logger.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../wap/kafka-offsets.ts';
import { skippedTable, type TableResult } from './run-report.ts';
import { maintenanceCommit } from './maintained-tables.ts';

export interface ManifestOptions {
  log: Logger;
  dryRun?: boolean;
  /** Default the table's `commit.manifest.target-size-bytes` (8 MiB). */
  targetSizeBytes?: number;
}

const bytesOf = (manifests: ManifestFile[]) => manifests.reduce((s, m) => s + m.manifestLength, 0);

export async function rewriteTableManifests(
  catalog: Catalog,
  table: string,
  options: ManifestOptions,
): Promise<TableResult> {
  const loaded = await loadTable(catalog, 'main', table);
  if (!loaded) return skippedTable(table, 'not on main');
  const manifests = await readManifestFiles(catalog.io, snapshotForRef(loaded.metadata, 'main'));
  const target = options.targetSizeBytes ?? manifestTargetSize(loaded.metadata);
  const small = smallManifests(manifests, target).flat();
  const result: TableResult = {
    table,
    outcome: 'unchanged',
    filesBefore: manifests.length,
    bytesBefore: bytesOf(manifests),
    filesAfter: manifests.length,
    bytesAfter: bytesOf(manifests),
    removed: 0,
    details: { targetSizeBytes: target, smallManifests: small.length },
  };
  if (!small.length) return result;
  if (options.dryRun) return { ...result, outcome: 'planned', removed: small.length };

  let plan: ManifestRewrite | undefined;
  const commit = await commitOnBranch(
    catalog,
    'main',
    new Map([
      [
        table,
        rewriteManifests({
          io: catalog.io,
          targetSizeBytes: target,
          carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES,
          onPlan: (p) => (plan = p),
        }),
      ],
    ]),
    maintenanceCommit('manifests', table, `merge ${small.length} small manifests`),
  );
  if (!commit.hash || !plan) return result;
  const after = [...plan.written, ...plan.kept];
  return {
    ...result,
    outcome: 'committed',
    filesAfter: after.length,
    bytesAfter: bytesOf(after),
    removed: plan.replaced.length,
    details: {
      targetSizeBytes: target,
      replaced: plan.replaced.length,
      created: plan.written.length,
      kept: plan.kept.length,
      entries: plan.entries,
      hash: commit.hash,
    },
  };
}
