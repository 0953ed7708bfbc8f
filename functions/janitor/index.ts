/**
 * The janitor function: orphan-file cleanup on the daily `floejob=orphans` tick, and on the `floejob=redrive` tick
 * (every 5 minutes) the WAP branches: published ones deleted, rejected ones kept for their retention, stalled batches
 * re-emitted to `K_SINK` (`shared/wap/branch-cleanup.ts`).
 */
import type { FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { maintenanceFunction } from '../../shared/maintenance/ping-jobs.ts';
import { maintenanceSettings, type MaintenanceSettings } from '../../shared/maintenance/maintenance-settings.ts';
import { knativeFunction } from '../knative-function.ts';

export function janitorFunction(runtime: Runtime, settings: MaintenanceSettings = maintenanceSettings()): FloeFunction {
  return maintenanceFunction('janitor', runtime, settings, { orphans: ['orphans'], redrive: ['branches'] });
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('janitor', janitorFunction);
