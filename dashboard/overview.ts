/** The state of the lakehouse at a glance, composed from the other views (each memoized on its own). */
import { branchesView, type Latency, type BranchesView } from '../shared/lakehouse/branch-views.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';
import { deadlettersView } from './deadletter-view.ts';
import { maintenanceView, type MaintenanceRun } from './maintenance-runs.ts';
import { listTables } from '../shared/lakehouse/table-summaries.ts';

export interface Overview {
  generatedAt: string;
  mainHash: string;
  tables: { count: number; trustedRows: number; untrustedRows: number; files: number; bytes: number };
  pipeline: {
    stages: BranchesView['stages'];
    openBranches: number;
    oldestOpenAgeMs: number | null;
    latency: Latency | null;
  };
  deadletters: { total: number };
  maintenance: { runs: number; last: MaintenanceRun | null; reclaimedBytes: number };
  functions: { configured: number };
}

export async function overview(ctx: ReadContext): Promise<Overview> {
  const [tables, branches, deadletters, maintenance] = await Promise.all([
    listTables(ctx),
    branchesView(ctx),
    deadlettersView(ctx),
    maintenanceView(ctx),
  ]);
  const total = (kind: string, field: 'rows' | 'files' | 'bytes') =>
    tables.tables.filter((t) => kind === 'any' || t.kind === kind).reduce((sum, t) => sum + (t[field] ?? 0), 0);
  const open = branches.branches.filter((b) => b.stage !== 'rejected');
  return {
    generatedAt: ctx.now().toISOString(),
    mainHash: tables.hash,
    tables: {
      count: tables.tables.length,
      trustedRows: total('trusted', 'rows'),
      untrustedRows: total('untrusted', 'rows'),
      files: total('any', 'files'),
      bytes: total('any', 'bytes'),
    },
    pipeline: {
      stages: branches.stages,
      openBranches: open.length,
      oldestOpenAgeMs: open.reduce<number | null>(
        (max, b) => (b.ageMs !== null && (max === null || b.ageMs > max) ? b.ageMs : max),
        null,
      ),
      latency: branches.latency,
    },
    deadletters: { total: deadletters.total },
    maintenance: {
      runs: maintenance.total,
      last: maintenance.runs[0] ?? null,
      reclaimedBytes: maintenance.reclaimed.bytes,
    },
    functions: { configured: Object.keys(ctx.functions).length },
  };
}
