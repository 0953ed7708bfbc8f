/**
 * One maintenance run, the same for the functions (PingSource ticks) and `floe maintain`: run the job, time it,
 * collect per-table failures without stopping the other tables, and write the run's report to the warehouse.
 */
import type { Catalog } from '../catalog/table-catalog.ts';
import type { Emit } from '../runtime/event-emitter.ts';
import type { Logger } from '../runtime/logger.ts';
import type { PipelineConfig } from '../runtime/pipeline-config.ts';
import { cleanWapBranches, type BranchResult } from '../wap/branch-cleanup.ts';
import { compactTable } from './compaction.ts';
import { expireTable } from './snapshot-expiry.ts';
import { rewriteTableManifests } from './manifest-rewrite.ts';
import { removeOrphanFiles, type OrphanResult } from './orphan-cleanup.ts';
import {
  REPORT_LIST_LIMIT,
  tableTotals,
  writeReport,
  type Job,
  type MaintenanceReport,
  type TableResult,
} from './run-report.ts';
import type { MaintenanceSettings } from './maintenance-settings.ts';
import { tablesOnMain } from './maintained-tables.ts';
import { runScheduledTags, type ScheduledTagsResult } from './scheduled-tags.ts';

export interface JobContext {
  catalog: Catalog;
  config: PipelineConfig;
  log: Logger;
  settings: MaintenanceSettings;
  now?: () => number;
  /** Where the branches job re-emits stalled batches' events. */
  emit?: Emit;
  onProgress?: (message: string) => void;
}

export interface JobRequest {
  job: Job;
  /** Table jobs: only these tables (default every table on main). */
  tables?: string[];
  dryRun?: boolean;
  /** orphans: the grace period; expire: the maximum snapshot age. */
  olderThanMs?: number;
  /** compact: rewrite options under Iceberg's names. */
  rewrite?: Record<string, string>;
}

export interface JobRun {
  report: MaintenanceReport;
  /** Where the report was written (undefined if writing it failed; the failure is in `report.errors`). */
  reportLocation?: string;
  orphans?: OrphanResult;
  branches?: BranchResult;
  tags?: ScheduledTagsResult;
}

type TableJob = (table: string) => Promise<TableResult>;

function tableJob(ctx: JobContext, request: JobRequest): TableJob {
  const { catalog, log } = ctx;
  const dryRun = request.dryRun ?? false;
  switch (request.job) {
    case 'compact':
      return (table) =>
        compactTable(catalog, table, {
          log,
          dryRun,
          ...(ctx.now ? { now: ctx.now } : {}),
          ...(request.rewrite ? { options: request.rewrite } : {}),
        });
    case 'expire':
      return (table) =>
        expireTable(catalog, table, {
          log,
          dryRun,
          ...(ctx.now ? { now: ctx.now } : {}),
          defaultMaxSnapshotAgeMs: ctx.settings.snapshotMaxAgeMs,
          ...(request.olderThanMs !== undefined ? { maxSnapshotAgeMs: request.olderThanMs } : {}),
        });
    case 'manifests':
      return (table) => rewriteTableManifests(catalog, table, { log, dryRun });
    default:
      throw new Error(`${request.job} is not a table job`);
  }
}

async function runTables(ctx: JobContext, request: JobRequest, report: MaintenanceReport): Promise<void> {
  const run = tableJob(ctx, request);
  const tables: TableResult[] = [];
  for (const table of await tablesOnMain(ctx.catalog, request.tables)) {
    ctx.onProgress?.(`${request.job} ${table}`);
    try {
      const result = await run(table);
      tables.push(result);
      ctx.log.info({ job: request.job, ...result, details: undefined }, `${request.job} ${table}: ${result.outcome}`);
    } catch (err) {
      const message = (err as Error).message;
      ctx.log.error({ err, job: request.job, table }, `${request.job} ${table} failed`);
      report.errors.push(`${table}: ${message}`);
      tables.push({
        table,
        outcome: 'failed',
        reason: message,
        filesBefore: 0,
        bytesBefore: 0,
        filesAfter: 0,
        bytesAfter: 0,
        removed: 0,
      });
    }
  }
  Object.assign(report, tableTotals(tables), { tables });
}

async function runOrphans(ctx: JobContext, request: JobRequest, report: MaintenanceReport): Promise<OrphanResult> {
  const result = await removeOrphanFiles(ctx.catalog, {
    olderThanMs: request.olderThanMs ?? ctx.settings.orphanGraceMs,
    dryRun: request.dryRun ?? false,
    ...(ctx.now ? { now: ctx.now } : {}),
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
  });
  Object.assign(report, {
    filesBefore: result.listed,
    bytesBefore: result.listedBytes,
    filesAfter: result.listed - result.deleted,
    bytesAfter: result.listedBytes - result.deletedBytes,
    bytesReclaimed: result.deletedBytes,
    deleted: result.deleted,
    details: {
      references: result.references,
      tables: result.tables,
      reachable: result.reachable,
      young: result.young,
      protected: result.protected,
      orphanCount: result.orphans.length,
      orphanBytes: result.orphanBytes,
      blobFilesRead: result.blobFilesRead,
      orphans: result.orphans.slice(0, REPORT_LIST_LIMIT),
      truncated: result.orphans.length > REPORT_LIST_LIMIT,
      olderThanMs: request.olderThanMs ?? ctx.settings.orphanGraceMs,
    },
  });
  report.errors.push(...result.errors);
  return result;
}

async function runBranches(ctx: JobContext, request: JobRequest, report: MaintenanceReport): Promise<BranchResult> {
  const result = await cleanWapBranches(ctx.catalog, {
    config: ctx.config,
    log: ctx.log,
    dryRun: request.dryRun ?? false,
    stallAfterMs: ctx.settings.stallAfterMs,
    rejectedRetentionMs: ctx.settings.rejectedRetentionMs,
    ...(ctx.now ? { now: ctx.now } : {}),
    ...(ctx.emit ? { emit: ctx.emit } : {}),
  });
  Object.assign(report, {
    filesBefore: result.branches,
    filesAfter: result.branches - result.deleted,
    deleted: result.deleted,
    details: { redriven: result.redriven, actions: result.actions.slice(0, REPORT_LIST_LIMIT) },
  });
  report.errors.push(...result.errors);
  return result;
}

async function runTags(ctx: JobContext, request: JobRequest, report: MaintenanceReport): Promise<ScheduledTagsResult> {
  const result = await runScheduledTags(ctx.catalog, {
    config: ctx.config,
    dryRun: request.dryRun ?? false,
    ...(ctx.now ? { now: ctx.now } : {}),
  });
  const created = result.actions.filter((a) => a.action === 'created' || a.action === 'would create').length;
  const deleted = result.actions.filter((a) => a.action === 'deleted' || a.action === 'would delete').length;
  Object.assign(report, {
    filesBefore: result.kept + deleted,
    filesAfter: result.kept + created,
    deleted: request.dryRun ? 0 : deleted,
    details: { created, deleted, kept: result.kept, actions: result.actions.slice(0, REPORT_LIST_LIMIT) },
  });
  report.errors.push(...result.errors);
  return result;
}

export async function runJob(ctx: JobContext, request: JobRequest): Promise<JobRun> {
  const clock = ctx.now ?? Date.now;
  const started = clock();
  const timer = performance.now();
  const report: MaintenanceReport = {
    job: request.job,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    dryRun: request.dryRun ?? false,
    filesBefore: 0,
    bytesBefore: 0,
    filesAfter: 0,
    bytesAfter: 0,
    bytesReclaimed: 0,
    deleted: 0,
    errors: [],
  };
  const run: JobRun = { report };
  try {
    if (request.job === 'orphans') run.orphans = await runOrphans(ctx, request, report);
    else if (request.job === 'branches') run.branches = await runBranches(ctx, request, report);
    else if (request.job === 'tags') run.tags = await runTags(ctx, request, report);
    else await runTables(ctx, request, report);
  } catch (err) {
    ctx.log.error({ err, job: request.job }, `${request.job} failed`);
    report.errors.push((err as Error).message);
  }
  report.durationMs = Math.round(performance.now() - timer);
  try {
    run.reportLocation = await writeReport(ctx.catalog.io, ctx.catalog.warehouse, report);
  } catch (err) {
    report.errors.push(`could not write the report: ${(err as Error).message}`);
  }
  return run;
}
