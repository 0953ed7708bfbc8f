/** Listing and reading the JSON objects floe keeps under the warehouse (dead letters, maintenance reports). */
import { parseJson } from '../shared/util/lossless-json.ts';
import type { LocatedObject } from '../shared/storage/file-io.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';

/** A listing stops here; the views say when it did. */
export const LIST_CAP = 100_000;

export interface ObjectScan {
  total: number;
  /** The listing stopped at LIST_CAP objects. */
  truncated: boolean;
  /** The last `keep` objects in key order, newest first (keys start with a date or a timestamp). */
  newest: LocatedObject[];
}

/** Walks the objects under `prefix` once, handing each to `visit` and keeping only the newest `keep`. */
export async function scanObjects(
  ctx: ReadContext,
  prefix: string,
  keep: number,
  visit: (object: LocatedObject) => void = () => {},
): Promise<ObjectScan> {
  const newest: LocatedObject[] = [];
  let total = 0;
  for await (const object of ctx.io.list(prefix)) {
    if (total >= LIST_CAP) return { total, truncated: true, newest: newest.reverse() };
    total++;
    visit(object);
    newest.push(object);
    if (newest.length > keep) newest.shift();
  }
  return { total, truncated: false, newest: newest.reverse() };
}

/** A JSON object's fields, or the reason it cannot be read (kept, so a bad file shows up instead of vanishing). */
export async function readJsonObject(
  ctx: ReadContext,
  location: string,
): Promise<{ value: Record<string, unknown> } | { error: string }> {
  try {
    const value = parseJson(new TextDecoder().decode(await ctx.io.read(location)));
    if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'not a JSON object' };
    return { value: value as Record<string, unknown> };
  } catch (err) {
    return { error: (err as Error)?.message ?? String(err) };
  }
}

/** The first field of `names` that holds a number (bigints too), else null. */
export function numberField(object: Record<string, unknown>, names: string[]): number | null {
  for (const name of names) {
    const value = object[name];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'bigint') return Number(value);
  }
  return null;
}

export function stringField(object: Record<string, unknown>, names: string[]): string | null {
  for (const name of names) {
    const value = object[name];
    if (typeof value === 'string') return value;
  }
  return null;
}
