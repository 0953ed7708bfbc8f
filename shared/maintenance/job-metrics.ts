/** Prometheus metrics of the maintenance functions, fed from each run's report. */
import { Counter, Gauge, Histogram, type Metric } from 'prom-client';
import type { MaintenanceReport } from './run-report.ts';

export interface MaintenanceMetrics {
  metrics: Metric[];
  record(report: MaintenanceReport, redriven?: number): void;
}

export function maintenanceMetrics(): MaintenanceMetrics {
  const runs = new Counter({
    name: 'floe_maintenance_runs_total',
    help: 'Maintenance runs by job and outcome',
    labelNames: ['job', 'outcome'],
    registers: [],
  });
  const duration = new Histogram({
    name: 'floe_maintenance_duration_seconds',
    help: 'Duration of maintenance runs',
    labelNames: ['job'],
    registers: [],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
  });
  const files = new Gauge({
    name: 'floe_maintenance_files',
    help: 'Files before/after the last run (data files, reachable files, manifests or listed objects by job)',
    labelNames: ['job', 'when'],
    registers: [],
  });
  const bytes = new Gauge({
    name: 'floe_maintenance_bytes',
    help: 'Bytes before/after the last run',
    labelNames: ['job', 'when'],
    registers: [],
  });
  const reclaimed = new Counter({
    name: 'floe_maintenance_bytes_reclaimed_total',
    help: 'Bytes deleted from storage',
    labelNames: ['job'],
    registers: [],
  });
  const deleted = new Counter({
    name: 'floe_maintenance_deleted_total',
    help: 'Objects deleted, files replaced, snapshots expired, manifests replaced or branches deleted',
    labelNames: ['job'],
    registers: [],
  });
  const redrives = new Counter({
    name: 'floe_batches_redriven_total',
    help: 'Stalled batches re-driven by re-emitting their event',
    registers: [],
  });
  return {
    metrics: [runs, duration, files, bytes, reclaimed, deleted, redrives],
    record(report, redriven = 0) {
      const { job } = report;
      runs.inc({ job, outcome: report.errors.length ? 'error' : report.dryRun ? 'dry-run' : 'ok' });
      duration.observe({ job }, report.durationMs / 1000);
      files.set({ job, when: 'before' }, report.filesBefore);
      files.set({ job, when: 'after' }, report.filesAfter);
      bytes.set({ job, when: 'before' }, report.bytesBefore);
      bytes.set({ job, when: 'after' }, report.bytesAfter);
      if (!report.dryRun) {
        reclaimed.inc({ job }, report.bytesReclaimed);
        deleted.inc({ job }, report.deleted);
        redrives.inc(redriven);
      }
    },
  };
}
