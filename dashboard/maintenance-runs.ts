/**
 * Table maintenance as its runs report it: the JSON reports `shared/maintenance/run-report.ts` writes under
 * `<warehouse>_floe/maintenance/<timestamp>-<job>.json`. Read defensively — a missing or mistyped field is null, an
 * unreadable report is listed with its reason — so a report from another version never breaks the page.
 */
import { reportPrefix } from '../shared/maintenance/run-report.ts';
import { SHORT_TTL_MS, type ReadContext } from '../shared/lakehouse/read-context.ts';
import { numberField, readJsonObject, scanObjects, stringField } from './warehouse-objects.ts';

export interface MaintenanceRun {
  location: string;
  at: string;
  job: string;
  /** Tables the run worked on (table jobs), with what happened to each. */
  tables: { table: string; outcome: string | null; filesBefore: number | null; filesAfter: number | null }[];
  filesBefore: number | null;
  filesAfter: number | null;
  bytesBefore: number | null;
  bytesAfter: number | null;
  bytesReclaimed: number | null;
  deleted: number | null;
  durationMs: number | null;
  dryRun: boolean;
  errors: string[];
}

export interface MaintenanceView {
  generatedAt: string;
  total: number;
  truncated: boolean;
  /** Newest first, at most RECENT_RUNS. */
  runs: MaintenanceRun[];
  /** The newest run of each job. */
  lastByJob: Record<string, MaintenanceRun>;
  /** Over `runs`, dry runs left out: bytes removed from storage, fewer files, and objects deleted or replaced. */
  reclaimed: { bytes: number; files: number; deleted: number };
  unreadable: { location: string; error: string }[];
}

export const RECENT_RUNS = 100;

function errorsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
  return typeof value === 'string' && value ? [value] : [];
}

function tablesOf(value: unknown): MaintenanceRun['tables'] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    if (!item || typeof item !== 'object') return [];
    const result = item as Record<string, unknown>;
    const table = stringField(result, ['table']);
    return table
      ? [
          {
            table,
            outcome: stringField(result, ['outcome']),
            filesBefore: numberField(result, ['filesBefore']),
            filesAfter: numberField(result, ['filesAfter']),
          },
        ]
      : [];
  });
}

/** `2026-11-22T10-15-00-123Z-compact.json` → `compact`. */
function jobFromKey(key: string): string | null {
  return /-([a-z][a-z0-9_]*)\.json$/.exec(key)?.[1] ?? null;
}

export function readRun(
  location: string,
  key: string,
  lastModified: Date,
  report: Record<string, unknown>,
): MaintenanceRun {
  const bytesBefore = numberField(report, ['bytesBefore']);
  const bytesAfter = numberField(report, ['bytesAfter']);
  return {
    location,
    at: stringField(report, ['startedAt']) ?? lastModified.toISOString(),
    job: stringField(report, ['job']) ?? jobFromKey(key) ?? 'unknown',
    tables: tablesOf(report.tables),
    filesBefore: numberField(report, ['filesBefore']),
    filesAfter: numberField(report, ['filesAfter']),
    bytesBefore,
    bytesAfter,
    bytesReclaimed: numberField(report, ['bytesReclaimed']),
    deleted: numberField(report, ['deleted']),
    durationMs: numberField(report, ['durationMs']),
    dryRun: report.dryRun === true,
    errors: errorsOf(report.errors),
  };
}

export async function maintenanceView(ctx: ReadContext): Promise<MaintenanceView> {
  return ctx.memo.get('maintenance', SHORT_TTL_MS, async () => {
    const prefix = reportPrefix(ctx.warehouse);
    const { total, truncated, newest } = await scanObjects(ctx, prefix, RECENT_RUNS);
    const runs: MaintenanceRun[] = [];
    const unreadable: MaintenanceView['unreadable'] = [];
    const reports = await Promise.all(
      newest.map(async (o) => ({ object: o, read: await readJsonObject(ctx, o.location) })),
    );
    for (const { object, read } of reports) {
      if ('error' in read) unreadable.push({ location: object.location, error: read.error });
      else runs.push(readRun(object.location, object.location.slice(prefix.length), object.lastModified, read.value));
    }
    runs.sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || b.location.localeCompare(a.location));
    const lastByJob: Record<string, MaintenanceRun> = {};
    for (const run of runs) lastByJob[run.job] ??= run;
    const reclaimed = { bytes: 0, files: 0, deleted: 0 };
    for (const run of runs.filter((r) => !r.dryRun)) {
      reclaimed.bytes += Math.max(0, run.bytesReclaimed ?? 0);
      reclaimed.files +=
        run.filesBefore !== null && run.filesAfter !== null ? Math.max(0, run.filesBefore - run.filesAfter) : 0;
      reclaimed.deleted += run.deleted ?? 0;
    }
    return { generatedAt: ctx.now().toISOString(), total, truncated, runs, lastByJob, reclaimed, unreadable };
  });
}
