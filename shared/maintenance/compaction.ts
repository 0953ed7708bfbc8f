/**
 * Bin-pack compaction of one table on `main`: plan from the current head, write the rewritten files, commit a
 * `replace` snapshot through Nessie compare-and-swap (`commitOnBranch`, retried). A concurrent publish that lands
 * first makes the swap fail; the commit path reloads `main` and re-applies the rewrite on top, re-validating that
 * every replaced file is still live (appends never invalidate it). If validation fails — another compaction replaced
 * some of the files, or a delete file arrived — the written files are deleted and the table is planned again.
 */
import type { Logger } from '../runtime/logger.ts';
import { commitOnBranch, loadTable, type Catalog } from '../catalog/table-catalog.ts';
import { CommitStateUnknownError, ValidationError } from '../iceberg/commit.ts';
import {
  binPackSettings,
  planRewriteDataFiles,
  replaceDataFiles,
  rewriteFileGroup,
  type BIN_PACK_OPTIONS,
  type RewriteEngine,
  type RewritePlan,
} from '../iceberg/rewrite-data.ts';
import { compactionEngine } from './maintenance-settings.ts';
import type { DataFile } from '../iceberg/types.ts';
import { CARRIED_SUMMARY_PREFIXES } from '../wap/kafka-offsets.ts';
import { skippedTable, type TableResult } from './run-report.ts';
import { maintenanceCommit } from './maintained-tables.ts';

export interface CompactOptions {
  log: Logger;
  dryRun?: boolean;
  /** Rewrite options under Iceberg's names (`min-input-files`, `target-file-size-bytes`, …) as strings. */
  options?: Partial<Record<(typeof BIN_PACK_OPTIONS)[number], string>>;
  /** Plans after a failed validation before giving up. Default 3. */
  replans?: number;
  /** How groups are rewritten; default `FLOE_COMPACTION_ENGINE` (`duckdb`, falling back to `js` per group). */
  engine?: RewriteEngine;
  /** The clock that tells which time partitions have closed (merged whole) and which still fill (merged in tiers). */
  now?: () => number;
}

function describe(plan: RewritePlan) {
  return {
    groups: plan.groups.map((g) => ({
      partition: g.partition,
      closed: g.closed,
      inputFiles: g.tasks.length,
      inputBytes: g.inputBytes,
      outputFiles: g.outputFiles,
    })),
    skippedPartitions: plan.skipped,
    targetFileSizeBytes: plan.settings['target-file-size-bytes'],
  };
}

export async function compactTable(catalog: Catalog, table: string, options: CompactOptions): Promise<TableResult> {
  const { io } = catalog;
  const replans = options.replans ?? 3;
  const engine = options.engine ?? compactionEngine();
  for (let round = 1; ; round++) {
    const loaded = await loadTable(catalog, 'main', table);
    if (!loaded) return skippedTable(table, 'not on main');
    const plan = await planRewriteDataFiles(loaded.metadata, {
      io,
      settings: binPackSettings(loaded.metadata, options.options),
      now: (options.now ?? Date.now)(),
    });
    for (const skipped of plan.skipped)
      options.log.warn(
        { table, partition: skipped.partition, files: skipped.files, reason: skipped.reason },
        'compaction skips a partition',
      );
    const unchanged: TableResult = {
      table,
      outcome: 'unchanged',
      filesBefore: plan.liveFiles,
      bytesBefore: plan.liveBytes,
      filesAfter: plan.liveFiles,
      bytesAfter: plan.liveBytes,
      removed: 0,
      details: describe(plan),
    };
    if (!plan.groups.length) return unchanged;
    const inputFiles = plan.groups.reduce((s, g) => s + g.tasks.length, 0);
    const inputBytes = plan.groups.reduce((s, g) => s + g.inputBytes, 0);
    if (options.dryRun) return { ...unchanged, outcome: 'planned', removed: inputFiles };

    const added: DataFile[] = [];
    try {
      const fallbacks: string[] = [];
      for (const group of plan.groups) {
        const onFallback = (reason: string) => {
          fallbacks.push(reason);
          options.log.info(
            { table, partition: group.partition, reason },
            'compaction rewrites a group with the JS engine',
          );
        };
        added.push(...(await rewriteFileGroup(io, loaded.metadata, plan, group, { engine, onFallback })));
      }
      const update = replaceDataFiles(plan, plan.groups, added, { io, carrySummaryPrefixes: CARRIED_SUMMARY_PREFIXES });
      const commit = await commitOnBranch(
        catalog,
        'main',
        new Map([[table, update]]),
        maintenanceCommit('compact', table, `rewrite ${inputFiles} files into ${added.length}`),
      );
      const addedBytes = added.reduce((s, f) => s + f.fileSizeInBytes, 0);
      return {
        ...unchanged,
        outcome: 'committed',
        removed: inputFiles,
        filesAfter: plan.liveFiles - inputFiles + added.length,
        bytesAfter: plan.liveBytes - inputBytes + addedBytes,
        details: {
          ...describe(plan),
          addedFiles: added.length,
          attempts: commit.attempts,
          hash: commit.hash,
          round,
          engine,
          ...(fallbacks.length ? { jsGroups: fallbacks.length } : {}),
        },
      };
    } catch (err) {
      // Only an unknown commit outcome may have made the new files live; otherwise they are garbage now.
      if (!(err instanceof CommitStateUnknownError))
        await io.deleteMany(added.map((f) => f.filePath)).catch(() => undefined);
      if (err instanceof ValidationError && round < replans) {
        options.log.info(
          { table, round, reason: err.message },
          'compaction no longer valid on the new head: planning again',
        );
        continue;
      }
      throw err;
    }
  }
}
