/**
 * Dead-lettered events: the JSON objects the deadletter function stores under `<warehouse>deadletter/<yyyy-mm-dd>/`
 * (`{ attributes, data_base64, storedAt }`). Counted per day from the listing; the newest RECENT_DEADLETTERS are read
 * for what failed where (Knative's `knativeerrordest`, `knativeerrorcode`).
 */
import { SHORT_TTL_MS, type ReadContext } from '../shared/lakehouse/read-context.ts';
import { readJsonObject, scanObjects, stringField } from './warehouse-objects.ts';

export interface DeadLetter {
  location: string;
  storedAt: string;
  size: number;
  id: string | null;
  type: string | null;
  source: string | null;
  destination: string | null;
  code: string | null;
  error: string | null;
}

export interface DeadLettersView {
  generatedAt: string;
  total: number;
  /** The listing stopped at LIST_CAP objects. */
  truncated: boolean;
  byDay: { day: string; count: number }[];
  recent: DeadLetter[];
}

export const RECENT_DEADLETTERS = 20;

export function deadletterPrefix(warehouse: string): string {
  return `${warehouse}deadletter/`;
}

async function describe(ctx: ReadContext, location: string, size: number, lastModified: Date): Promise<DeadLetter> {
  const read = await readJsonObject(ctx, location);
  const object = 'value' in read ? read.value : {};
  const attributes = (object.attributes && typeof object.attributes === 'object' ? object.attributes : {}) as Record<
    string,
    unknown
  >;
  return {
    location,
    size,
    storedAt: stringField(object, ['storedAt']) ?? lastModified.toISOString(),
    id: stringField(attributes, ['id']),
    type: stringField(attributes, ['type']),
    source: stringField(attributes, ['source']),
    destination: stringField(attributes, ['knativeerrordest']),
    code: stringField(attributes, ['knativeerrorcode']),
    error: 'error' in read ? read.error : null,
  };
}

export async function deadlettersView(ctx: ReadContext): Promise<DeadLettersView> {
  return ctx.memo.get('deadletters', SHORT_TTL_MS, async () => {
    const prefix = deadletterPrefix(ctx.warehouse);
    const byDay = new Map<string, number>();
    const { total, truncated, newest } = await scanObjects(ctx, prefix, RECENT_DEADLETTERS, (object) => {
      const day = /^(\d{4}-\d{2}-\d{2})\//.exec(object.location.slice(prefix.length))?.[1] ?? 'other';
      byDay.set(day, (byDay.get(day) ?? 0) + 1);
    });
    return {
      generatedAt: ctx.now().toISOString(),
      total,
      truncated,
      byDay: [...byDay].map(([day, count]) => ({ day, count })).sort((a, b) => a.day.localeCompare(b.day)),
      recent: await Promise.all(newest.map((o) => describe(ctx, o.location, o.size, o.lastModified))),
    };
  });
}
