/**
 * The record every maintenance run leaves: a JSON report under `<warehouse>_floe/maintenance/<timestamp>-<job>.json`
 * (the dashboard charts the last runs from there; the orphan scan never deletes under `_floe/`).
 */
import type { FileIO } from '../storage/file-io.ts';
import { collect } from '../storage/object-store.ts';
import { parseJson, stringifyJson } from '../util/lossless-json.ts';

export const JOBS = ['compact', 'expire', 'manifests', 'orphans', 'branches', 'tags'] as const;
export type Job = (typeof JOBS)[number];

export interface TableResult {
  table: string;
  /** committed: a snapshot was committed; planned: dry run; unchanged: nothing to do; skipped/failed: see reason. */
  outcome: 'committed' | 'planned' | 'unchanged' | 'skipped' | 'failed';
  /** Live data files (compact), files reachable from main's retained snapshots (expire), or manifests (manifests). */
  filesBefore: number;
  bytesBefore: number;
  filesAfter: number;
  bytesAfter: number;
  /** Files replaced (compact), snapshots expired (expire), manifests replaced (manifests). */
  removed: number;
  reason?: string;
  details?: Record<string, unknown>;
}

/** A table a job left alone, and why (nothing was read or written). */
export function skippedTable(table: string, reason: string): TableResult {
  return {
    table,
    outcome: 'skipped',
    reason,
    filesBefore: 0,
    bytesBefore: 0,
    filesAfter: 0,
    bytesAfter: 0,
    removed: 0,
  };
}

export interface MaintenanceReport {
  job: Job;
  startedAt: string;
  durationMs: number;
  dryRun: boolean;
  filesBefore: number;
  bytesBefore: number;
  filesAfter: number;
  bytesAfter: number;
  /** Bytes physically removed from storage (only orphan cleanup deletes files). */
  bytesReclaimed: number;
  /** Objects deleted (orphans), branches deleted (branches), files replaced / snapshots expired / manifests replaced. */
  deleted: number;
  tables?: TableResult[];
  details?: Record<string, unknown>;
  errors: string[];
}

/** Report entries listing single files are cut here (the run's return value keeps them all). */
export const REPORT_LIST_LIMIT = 1000;

export function reportPrefix(warehouse: string): string {
  return `${warehouse.endsWith('/') ? warehouse : `${warehouse}/`}_floe/maintenance/`;
}

/** `2026-11-22T10-15-00-123Z`: sortable, and free of characters object stores or file systems mind. */
function stamp(iso: string): string {
  return iso.replace(/[:.]/g, '-');
}

export async function writeReport(io: FileIO, warehouse: string, report: MaintenanceReport): Promise<string> {
  const location = `${reportPrefix(warehouse)}${stamp(report.startedAt)}-${report.job}.json`;
  await io.write(location, stringifyJson(report, 2), { contentType: 'application/json' });
  return location;
}

/** The newest reports first (optionally of one job). */
export async function readReports(
  io: FileIO,
  warehouse: string,
  options: { job?: Job; limit?: number } = {},
): Promise<MaintenanceReport[]> {
  const objects = (await collect(io.list(reportPrefix(warehouse))))
    .map((o) => o.location)
    .filter((l) => l.endsWith('.json') && (!options.job || l.endsWith(`-${options.job}.json`)))
    .sort()
    .reverse()
    .slice(0, options.limit ?? 50);
  return Promise.all(objects.map(async (l) => parseJson<MaintenanceReport>(await io.read(l))));
}

/** Totals of a table job's results. */
export function tableTotals(
  tables: TableResult[],
): Pick<MaintenanceReport, 'filesBefore' | 'bytesBefore' | 'filesAfter' | 'bytesAfter' | 'deleted'> {
  const sum = (pick: (t: TableResult) => number) => tables.reduce((s, t) => s + pick(t), 0);
  return {
    filesBefore: sum((t) => t.filesBefore),
    bytesBefore: sum((t) => t.bytesBefore),
    filesAfter: sum((t) => t.filesAfter),
    bytesAfter: sum((t) => t.bytesAfter),
    deleted: sum((t) => (t.outcome === 'committed' ? t.removed : 0)),
  };
}
