/**
 * The `tags` job (janitor, `floejob=tags` tick; `floe maintain tags`): for every tag schedule of the pipeline config,
 * create the tag of the most recent scheduled time when it does not exist yet, and delete the schedule's tags (and
 * their Iceberg refs) whose retention has passed. A tag belongs to a schedule when its name matches the schedule's
 * template; its age is taken from the time in its name, so the job needs nothing but the tag names and repeated
 * ticks are idempotent. Tags made by hand never match a template's shape by accident unless named like one.
 *
 * A tick that comes late (the janitor was down) still creates the missing tag under the scheduled name, of the data
 * as it is then; only the most recent scheduled time is caught up, not every missed one.
 */
import { Cron } from 'croner';
import { createTag, deleteTag, TagError } from '../catalog/dataset-tags.ts';
import type { Catalog } from '../catalog/table-catalog.ts';
import type { PipelineConfig, TagSchedule } from '../runtime/pipeline-config.ts';

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The tag name of a schedule for a scheduled time (UTC). */
export function renderTagName(template: string, at: Date): string {
  const date = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  return template.replaceAll('{date}', date).replaceAll('{time}', `${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}`);
}

/** The scheduled time a tag name stands for, when it matches the template; undefined otherwise. */
export function tagNameTime(template: string, name: string): number | undefined {
  const parts: string[] = [];
  const source = template
    .split(/(\{date\}|\{time\})/)
    .map((piece) => {
      if (piece === '{date}' || piece === '{time}') {
        parts.push(piece);
        return piece === '{date}' ? '(\\d{4})-(\\d{2})-(\\d{2})' : '(\\d{2})(\\d{2})';
      }
      return piece.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    })
    .join('');
  const match = new RegExp(`^${source}$`).exec(name);
  if (!match) return undefined;
  let year = 1970,
    month = 1,
    day = 1,
    hour = 0,
    minute = 0;
  let group = 1;
  for (const part of parts) {
    if (part === '{date}')
      [year, month, day] = [Number(match[group++]), Number(match[group++]), Number(match[group++])];
    else [hour, minute] = [Number(match[group++]), Number(match[group++])];
  }
  const time = Date.UTC(year, month - 1, day, hour, minute);
  return Number.isFinite(time) && renderTagName(template, new Date(time)) === name ? time : undefined;
}

/** The most recent time at or before `now` the schedule fires (UTC), if it ever did. */
export function lastScheduledTime(schedule: string, now: number): Date | undefined {
  const cron = new Cron(schedule, { paused: true, timezone: 'Etc/UTC' });
  return cron.previousRuns(1, new Date(now + 1))[0];
}

export interface ScheduledTagsOptions {
  config: PipelineConfig;
  now?: () => number;
  dryRun?: boolean;
}

export interface ScheduledTagAction {
  tag: string;
  action: 'created' | 'deleted' | 'would create' | 'would delete';
  schedule: string;
  hash?: string;
  tables?: number;
}

export interface ScheduledTagsResult {
  actions: ScheduledTagAction[];
  /** Tags of the schedules that stay. */
  kept: number;
  errors: string[];
}

export async function runScheduledTags(catalog: Catalog, options: ScheduledTagsOptions): Promise<ScheduledTagsResult> {
  const now = (options.now ?? Date.now)();
  const result: ScheduledTagsResult = { actions: [], kept: 0, errors: [] };
  const schedules: TagSchedule[] = options.config.tags;
  if (!schedules.length) return result;
  const tags = new Set((await catalog.client.listReferences()).filter((r) => r.type === 'TAG').map((r) => r.name));
  const namespace = options.config.namespaces.production;
  for (const schedule of schedules) {
    try {
      const due = lastScheduledTime(schedule.schedule, now);
      const name = due ? renderTagName(schedule.name, due) : undefined;
      if (
        name &&
        !tags.has(name) &&
        !(schedule.retention !== undefined && due!.getTime() + schedule.retention <= now)
      ) {
        if (options.dryRun) result.actions.push({ tag: name, action: 'would create', schedule: schedule.name });
        else {
          try {
            const created = await createTag(catalog, {
              name,
              from: schedule.ref,
              namespace,
              ...(schedule.retention !== undefined ? { retentionMs: schedule.retention } : {}),
              message: schedule.message ?? `scheduled (${schedule.schedule})`,
              properties: { 'floe.tag.schedule': schedule.name },
            });
            tags.add(name);
            result.actions.push({
              tag: name,
              action: 'created',
              schedule: schedule.name,
              hash: created.hash,
              tables: created.tables.length,
            });
          } catch (err) {
            // Another run created it between the listing and now: the job's work is done.
            if (!(err instanceof TagError && err.kind === 'exists')) throw err;
          }
        }
      }
      for (const tag of [...tags].sort()) {
        const time = tagNameTime(schedule.name, tag);
        if (time === undefined) continue;
        if (schedule.retention === undefined || time + schedule.retention > now) {
          result.kept++;
          continue;
        }
        if (options.dryRun) result.actions.push({ tag, action: 'would delete', schedule: schedule.name });
        else {
          try {
            await deleteTag(catalog, tag, { namespace });
          } catch (err) {
            if (!(err instanceof TagError && err.kind === 'not-found')) throw err;
          }
          tags.delete(tag);
          result.actions.push({ tag, action: 'deleted', schedule: schedule.name });
        }
      }
    } catch (err) {
      result.errors.push(`${schedule.name}: ${(err as Error).message}`);
    }
  }
  return result;
}
