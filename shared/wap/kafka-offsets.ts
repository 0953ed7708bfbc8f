/**
 * Kafka coordinates as compact per-partition offset ranges — what a batch holds, and what `main` already has.
 * Published ranges live in the Iceberg snapshot summary under `floe.kafka.offsets.<topic>` (like the Iceberg Kafka
 * Connect sink's offsets-in-summary), so a replayed record is recognised and filtered out.
 */
import { parseJson, stringifyJson, toLong } from '../util/lossless-json.ts';

/** partition → sorted, disjoint, non-adjacent inclusive ranges. */
export type OffsetRanges = Map<number, [bigint, bigint][]>;

export const OFFSETS_SUMMARY_PREFIX = 'floe.kafka.offsets.';

/** Summary keys every later snapshot carries forward (compactions, manifest rewrites too), so no commit forgets them. */
export const CARRIED_SUMMARY_PREFIXES = [OFFSETS_SUMMARY_PREFIX];

export function offsetsSummaryKey(topic: string): string {
  return `${OFFSETS_SUMMARY_PREFIX}${topic}`;
}

function normalize(ranges: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = ranges.map(([a, b]): [bigint, bigint] => [a, b]).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1] + 1n) {
      if (end > last[1]) last[1] = end;
    } else {
      out.push([start, end]);
    }
  }
  return out;
}

export function rangesOf(coordinates: Iterable<{ partition: number; offset: bigint }>): OffsetRanges {
  const byPartition = new Map<number, [bigint, bigint][]>();
  for (const { partition, offset } of coordinates) {
    const list = byPartition.get(partition) ?? [];
    list.push([offset, offset]);
    byPartition.set(partition, list);
  }
  return new Map([...byPartition].map(([p, list]) => [p, normalize(list)]));
}

export function mergeRanges(a: OffsetRanges, b: OffsetRanges): OffsetRanges {
  const out: OffsetRanges = new Map();
  for (const p of new Set([...a.keys(), ...b.keys()])) out.set(p, normalize([...(a.get(p) ?? []), ...(b.get(p) ?? [])]));
  return out;
}

export function containsOffset(ranges: OffsetRanges, partition: number, offset: bigint): boolean {
  const list = ranges.get(partition);
  if (!list) return false;
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [start, end] = list[mid];
    if (offset < start) hi = mid - 1;
    else if (offset > end) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Whether every offset of `inner` is in `outer`. */
export function coversAll(outer: OffsetRanges, inner: OffsetRanges): boolean {
  for (const [p, list] of inner) {
    for (const [start, end] of list) {
      const container = (outer.get(p) ?? []).find(([s, e]) => s <= start && end <= e);
      if (!container) return false;
    }
  }
  return true;
}

/** Whether any offset of `b` is in `a`. */
export function overlaps(a: OffsetRanges, b: OffsetRanges): boolean {
  for (const [p, list] of b) {
    for (const [start, end] of list) {
      if ((a.get(p) ?? []).some(([s, e]) => s <= end && start <= e)) return true;
    }
  }
  return false;
}

/** JSON form for summaries: `{"0":[[0,99],[120,130]]}` with exact 64-bit numbers. */
export function serializeRanges(ranges: OffsetRanges): string {
  const out: Record<string, bigint[][]> = {};
  for (const [p, list] of [...ranges].sort((x, y) => x[0] - y[0])) out[String(p)] = list.map(([s, e]) => [s, e]);
  return stringifyJson(out);
}

export function parseRanges(text: string | undefined): OffsetRanges {
  if (!text) return new Map();
  const json = parseJson<Record<string, unknown[][]>>(text);
  return new Map(Object.entries(json).map(([p, list]) => [Number(p), normalize(list.map(([s, e]) => [toLong(s, 'offset'), toLong(e, 'offset')]))]));
}

/** Event-payload form: partition → [[start, end]] as decimal strings. */
export function rangesToPayload(ranges: OffsetRanges): Record<string, [string, string][]> {
  return Object.fromEntries([...ranges].map(([p, list]) => [String(p), list.map(([s, e]): [string, string] => [s.toString(), e.toString()])]));
}

export function rangesFromPayload(payload: Record<string, [string, string][]>): OffsetRanges {
  return new Map(Object.entries(payload).map(([p, list]) => [Number(p), normalize(list.map(([s, e]) => [BigInt(s), BigInt(e)]))]));
}
