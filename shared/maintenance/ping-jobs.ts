/**
 * A maintenance function fed by PingSource ticks through the Broker (`dev.knative.sources.ping`, extension `floejob`)
 * that runs maintenance jobs per tick: the compactor and the janitor (`functions/compactor`, `functions/janitor`).
 * The tick's JSON data may carry options: `{"job":"compact","tables":["production.x"],"dryRun":true,
 * "olderThan":"3d","rewrite":{"min-input-files":"2"}}`. A failed run answers 500 and the tick is dead-lettered, where
 * it stays visible; the maintenance Triggers do not retry (a retry would start a second run beside one the dispatcher
 * gave up waiting for), and the next scheduled tick runs the job again — every job is idempotent.
 */
import { z } from 'zod';
import type { CloudEventMessage } from '../events/cloudevent.ts';
import { eventJson, InvalidEventError } from '../events/cloudevent.ts';
import { EventType, Extension, expectType } from '../events/contract.ts';
import { HandlerError, type FloeFunction, type FunctionContext } from '../runtime/function-host.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { parseDuration } from '../util/duration.ts';
import { runJob, type JobContext, type JobRequest } from './maintenance-jobs.ts';
import { maintenanceMetrics } from './job-metrics.ts';
import type { Job } from './run-report.ts';
import type { MaintenanceSettings } from './maintenance-settings.ts';

const tickData = z
  .object({
    job: z.string().optional(),
    tables: z.array(z.string().min(1)).optional(),
    dryRun: z.boolean().optional(),
    olderThan: z
      .string()
      .refine((t) => parseDuration(t) !== undefined, 'not a duration like 30s, 5m, 1h, 3d')
      .optional(),
    rewrite: z.record(z.string(), z.string()).optional(),
  })
  .strict();

/** The tick's job (extension `floejob`, or `job` in the data) and its options. */
export function tickRequest(event: CloudEventMessage): { job: string; options: Omit<JobRequest, 'job'> } {
  expectType(event, EventType.ping);
  const parsed = tickData.safeParse(event.data.byteLength ? (eventJson(event) ?? {}) : {});
  if (!parsed.success) {
    throw new InvalidEventError(
      `ping ${event.attributes.id} has invalid data: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; ')}`,
    );
  }
  const data = parsed.data;
  const extension = event.attributes[Extension.job];
  if (extension && data.job && extension !== data.job)
    throw new InvalidEventError(
      `ping ${event.attributes.id}: floejob '${extension}' and data job '${data.job}' disagree`,
    );
  const job = extension ?? data.job;
  if (!job) throw new InvalidEventError(`ping ${event.attributes.id} names no job (extension ${Extension.job})`);
  return {
    job,
    options: {
      ...(data.tables ? { tables: data.tables } : {}),
      ...(data.dryRun !== undefined ? { dryRun: data.dryRun } : {}),
      ...(data.olderThan ? { olderThanMs: parseDuration(data.olderThan)! } : {}),
      ...(data.rewrite ? { rewrite: data.rewrite } : {}),
    },
  };
}

function jobContext(runtime: Runtime, settings: MaintenanceSettings, context: FunctionContext): JobContext {
  return { catalog: runtime.catalog, config: runtime.env.pipeline, log: context.log, settings, emit: context.emit };
}

/** A function answering ticks by running the jobs mapped to the tick's job name, one report each. */
export function maintenanceFunction(
  name: string,
  runtime: Runtime,
  settings: MaintenanceSettings,
  jobs: Record<string, Job[]>,
): FloeFunction {
  const metrics = maintenanceMetrics();
  return {
    name,
    metricsToRegister: metrics.metrics,
    async handle(context, event) {
      const { job, options } = tickRequest(event);
      const runs = jobs[job];
      if (!runs)
        throw new HandlerError(422, `the ${name} does not run job '${job}' (it runs ${Object.keys(jobs).join(', ')})`);
      const errors: string[] = [];
      for (const run of runs) {
        const { report, reportLocation, branches } = await runJob(jobContext(runtime, settings, context), {
          job: run,
          ...options,
        });
        metrics.record(report, branches?.redriven);
        context.log.info(
          {
            job: run,
            durationMs: report.durationMs,
            deleted: report.deleted,
            bytesReclaimed: report.bytesReclaimed,
            errors: report.errors.length,
            report: reportLocation,
          },
          `${run} finished`,
        );
        errors.push(...report.errors.map((e) => `${run}: ${e}`));
      }
      if (errors.length)
        throw new HandlerError(500, `${job}: ${errors.length} error(s): ${errors.slice(0, 5).join('; ')}`);
    },
  };
}
