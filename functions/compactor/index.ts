/**
 * The compactor function, on the hourly `floejob=compact` tick: for every table on `main`, bin-pack compaction, then
 * snapshot expiry, then manifest rewrite — three runs, three reports (`shared/maintenance/`, which `floe maintain`
 * runs too). On the `floejob=expire` tick every 10 minutes, snapshot expiry alone: every commit rewrites the table's
 * metadata file with all its retained snapshots, so expiring often keeps each batch's commit cheap. Every job is
 * idempotent and commits with compare-and-swap, so a retried tick is harmless.
 */
import type { FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { maintenanceFunction } from '../../shared/maintenance/ping-jobs.ts';
import { maintenanceSettings, type MaintenanceSettings } from '../../shared/maintenance/maintenance-settings.ts';
import { knativeFunction } from '../knative-function.ts';

export function compactorFunction(
  runtime: Runtime,
  settings: MaintenanceSettings = maintenanceSettings(),
): FloeFunction {
  return maintenanceFunction('compactor', runtime, settings, {
    compact: ['compact', 'expire', 'manifests'],
    expire: ['expire'],
  });
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('compactor', compactorFunction);
