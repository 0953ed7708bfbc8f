/**
 * The janitor function: orphan-file cleanup on the daily `floejob=orphans` tick, and on the `floejob=redrive` tick
 * (every 5 minutes) the WAP branches: published ones deleted, rejected ones kept for their retention, stalled batches
 * re-emitted to `K_SINK` (`shared/wap/branch-cleanup.ts`); and the dead letters whose destination answers ready again
 * replayed to `K_SINK`, each stored file removed once the Broker accepted its event
 * (`shared/maintenance/deadletter-replay.ts`). On the `floejob=tags` tick (every 5 minutes) the pipeline config's tag
 * schedules: the due tag created, expired ones deleted (`shared/maintenance/scheduled-tags.ts`).
 */
import { Counter } from 'prom-client';
import { destinationReady, listDeadLetters, replayDeadLetters } from '../../shared/maintenance/deadletter-replay.ts';
import { tickRequest } from '../../shared/maintenance/ping-jobs.ts';
import { HandlerError, type FloeFunction } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { maintenanceFunction } from '../../shared/maintenance/ping-jobs.ts';
import { maintenanceSettings, type MaintenanceSettings } from '../../shared/maintenance/maintenance-settings.ts';
import { knativeFunction } from '../knative-function.ts';

export interface JanitorOptions {
  /** Whether a dead letter's failed destination is up again (default: it answers `/health/readiness` with 200). */
  destinationHealthy?: (destination: string) => Promise<boolean>;
}

export function janitorFunction(
  runtime: Runtime,
  settings: MaintenanceSettings = maintenanceSettings(),
  options: JanitorOptions = {},
): FloeFunction {
  const maintenance = maintenanceFunction('janitor', runtime, settings, {
    orphans: ['orphans'],
    redrive: ['branches'],
    tags: ['tags'],
  });
  const replayed = new Counter({
    name: 'floe_deadletters_replayed_total',
    help: 'Dead-lettered events replayed to the sink, by outcome',
    labelNames: ['outcome'],
    registers: [],
  });
  return {
    ...maintenance,
    metricsToRegister: [...(maintenance.metricsToRegister ?? []), replayed],
    async handle(context, event) {
      let failure: unknown;
      try {
        await maintenance.handle(context, event);
      } catch (err) {
        failure = err;
      }
      // The branches' errors must not keep dead letters from coming back (nor the other way round).
      const request =
        failure === undefined || (failure instanceof HandlerError && failure.status >= 500)
          ? tickRequest(event)
          : undefined;
      if (request?.job === 'redrive' && request.options.dryRun !== true) {
        const { letters, unreadable } = await listDeadLetters(runtime.io, runtime.env.warehouse);
        const result = await replayDeadLetters(runtime.io, letters, context.emit, {
          healthy: options.destinationHealthy ?? destinationReady,
        });
        replayed.inc({ outcome: 'replayed' }, result.replayed.length);
        replayed.inc({ outcome: 'failed' }, result.failed.length);
        if (letters.length || unreadable.length) {
          context.log.info(
            {
              replayed: result.replayed.length,
              failed: result.failed.length,
              waiting: result.skipped.length,
              unreadable: unreadable.map((u) => u.location),
            },
            'dead letters replayed',
          );
        }
        for (const { letter, message } of result.failed)
          context.log.warn(
            { id: letter.id, location: letter.location, error: message },
            'dead letter not replayed; it stays stored',
          );
      }
      if (failure) throw failure;
    },
  };
}

/** Knative Functions' module shape: `init`, `handle(context, event)`, `shutdown`. */
export const { init, handle, shutdown } = knativeFunction('janitor', janitorFunction);
