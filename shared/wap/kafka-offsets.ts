/**
 * Kafka coordinates as compact per-partition offset ranges — what a batch holds, and what `main` already has.
 * Published ranges live in the Iceberg snapshot summary under `floe.kafka.offsets.<topic>` (like the Iceberg Kafka
 * Connect sink's offsets-in-summary), so a replayed record is recognised and filtered out.
 *
 * Stored bounded: per partition, everything from the first published offset up to the highest one (the watermark) is
 * published except at most `MAX_HOLES_PER_PARTITION` holes — the gaps between the stored ranges. Holes are offsets not
 * seen yet: either never produced (transaction markers, compacted-away or dead-lettered records), which never arrive,
 * or records still in flight (a batch of another writer pod, a dead letter awaiting replay), which arrive later and
 * are then accepted once (filling the hole). When a publish would leave more holes, the lowest (oldest) ones are
 * closed — merged into the ranges — so a partition's value holds at most `MAX_HOLES_PER_PARTITION + 1` ranges however
 * long the topic runs, and the value format (`{"p":[[s,e],…]}`) is unchanged.
 *
 * A closed hole is a claim without rows, so it must not drop a record that arrives in it later. The highest offset
 * of any closed hole is stored per partition beside the ranges (`floe.kafka.closed-offsets.<topic>`, carried by every
 * commit like the ranges): at or below it the ranges are a claim to verify against the rows' own coordinates
 * (`published-offsets.ts`); above it they are exact. Without interleaved writers the holes stay far below the bound,
 * nothing is closed, and no row is ever read.
 */
import { parseJson, stringifyJson, toLong } from '../util/lossless-json.ts';

/** partition → sorted, disjoint, non-adjacent inclusive ranges. */
export type OffsetRanges = Map<number, [bigint, bigint][]>;

/**
 * Holes remembered per partition. Gaps that do fill come from batches in flight concurrently (a few ranges each), so
 * this must exceed (concurrent batches × ranges a batch has on one partition) plus the never-filled gaps that open
 * meanwhile; 64 holes keep a partition's value under ~2.7 kB even with 20-digit offsets.
 */
export const MAX_HOLES_PER_PARTITION = 64;

export const OFFSETS_SUMMARY_PREFIX = 'floe.kafka.offsets.';
export const CLOSED_OFFSETS_SUMMARY_PREFIX = 'floe.kafka.closed-offsets.';

/** Summary keys every later snapshot carries forward (compactions, manifest rewrites too), so no commit forgets them. */
export const CARRIED_SUMMARY_PREFIXES = [OFFSETS_SUMMARY_PREFIX, CLOSED_OFFSETS_SUMMARY_PREFIX];

export function offsetsSummaryKey(topic: string): string {
  return `${OFFSETS_SUMMARY_PREFIX}${topic}`;
}

export function closedOffsetsSummaryKey(topic: string): string {
  return `${CLOSED_OFFSETS_SUMMARY_PREFIX}${topic}`;
}

/** partition → the highest offset of a hole the bound closed: at or below it, the stored ranges are only a claim. */
export type ClosedOffsets = Map<number, bigint>;

function normalize(ranges: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = ranges
    .map(([a, b]): [bigint, bigint] => [a, b])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
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
  for (const p of new Set([...a.keys(), ...b.keys()])) {
    const left = a.get(p);
    const right = b.get(p);
    // Every OffsetRanges list is already normalized: a partition on one side only is copied as it is.
    out.set(
      p,
      left && right ? normalize([...left, ...right]) : (left ?? right ?? []).map(([s, e]): [bigint, bigint] => [s, e]),
    );
  }
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

/**
 * Whether every offset of `inner` is in `outer`. One sweep per partition over both sorted lists: an interleaved batch
 * has thousands of ranges, and so has what main holds once a check against the rows reopened its holes.
 */
export function coversAll(outer: OffsetRanges, inner: OffsetRanges): boolean {
  for (const [p, list] of inner) {
    const around = outer.get(p) ?? [];
    let next = 0;
    for (const [start, end] of list) {
      while (next < around.length && around[next][1] < start) next++;
      if (next === around.length || around[next][0] > start || around[next][1] < end) return false;
    }
  }
  return true;
}

/** Whether any offset of `b` is in `a`: one sweep per partition, as `coversAll`. */
export function overlaps(a: OffsetRanges, b: OffsetRanges): boolean {
  for (const [p, list] of b) {
    const other = a.get(p) ?? [];
    let next = 0;
    for (const [start, end] of list) {
      while (next < other.length && other[next][1] < start) next++;
      if (next < other.length && other[next][0] <= end) return true;
    }
  }
  return false;
}

/** Ranges with each partition's lowest holes closed until at most `maxHoles` remain (see the module comment). */
export function boundRanges(ranges: OffsetRanges, maxHoles = MAX_HOLES_PER_PARTITION): OffsetRanges {
  const out: OffsetRanges = new Map();
  for (const [p, list] of ranges) {
    const excess = list.length - 1 - maxHoles;
    out.set(
      p,
      excess > 0
        ? [[list[0][0], list[excess][1]], ...list.slice(excess + 1).map(([s, e]): [bigint, bigint] => [s, e])]
        : list,
    );
  }
  return out;
}

/** Per partition, how many holes `boundRanges` closes in `ranges` (only partitions where it closes any). */
export function holesClosedByBound(ranges: OffsetRanges, maxHoles = MAX_HOLES_PER_PARTITION): Map<number, number> {
  const closed = new Map<number, number>();
  for (const [p, list] of ranges) if (list.length - 1 > maxHoles) closed.set(p, list.length - 1 - maxHoles);
  return closed;
}

/** `closed` raised by what `boundRanges` closes in `ranges`: per partition, the end of the highest hole it closes. */
export function closeHoles(
  closed: ClosedOffsets,
  ranges: OffsetRanges,
  maxHoles = MAX_HOLES_PER_PARTITION,
): ClosedOffsets {
  const out: ClosedOffsets = new Map(closed);
  for (const [p, list] of ranges) {
    const excess = list.length - 1 - maxHoles;
    if (excess <= 0) continue;
    const end = list[excess][0] - 1n;
    if ((out.get(p) ?? -1n) < end) out.set(p, end);
  }
  return out;
}

/** The highest closed offset per partition of either side. */
export function mergeClosed(a: ClosedOffsets, b: ClosedOffsets): ClosedOffsets {
  const out: ClosedOffsets = new Map(a);
  for (const [p, end] of b) if ((out.get(p) ?? -1n) < end) out.set(p, end);
  return out;
}

/**
 * The offsets of `batch` that `published` claims at or below its partition's closed offset: whether main holds them
 * only main's rows can say.
 */
export function doubtfulOffsets(published: OffsetRanges, closed: ClosedOffsets, batch: OffsetRanges): OffsetRanges {
  const out: OffsetRanges = new Map();
  for (const [p, list] of batch) {
    const through = closed.get(p);
    const claimed = published.get(p);
    if (through === undefined || !claimed) continue;
    const found: [bigint, bigint][] = [];
    for (const [start, end] of list) {
      for (const [s, e] of claimed) {
        const lo = start > s ? start : s;
        const hiClaim = end < e ? end : e;
        const hi = hiClaim < through ? hiClaim : through;
        if (lo <= hi) found.push([lo, hi]);
      }
    }
    if (found.length) out.set(p, normalize(found));
  }
  return out;
}

/** `a` without the offsets of `b`: one sweep per partition over both sorted lists. */
export function subtractRanges(a: OffsetRanges, b: OffsetRanges): OffsetRanges {
  const out: OffsetRanges = new Map();
  for (const [p, list] of a) {
    const cuts = b.get(p) ?? [];
    const rest: [bigint, bigint][] = [];
    let next = 0;
    for (const [start, end] of list) {
      let from = start;
      while (next < cuts.length && cuts[next][1] < from) next++;
      // A cut reaching past this range may cut the next one too, so `next` stays on it.
      for (let k = next; k < cuts.length && cuts[k][0] <= end && from <= end; k++) {
        if (cuts[k][0] > from) rest.push([from, cuts[k][0] - 1n]);
        from = cuts[k][1] + 1n;
      }
      if (from <= end) rest.push([from, end]);
    }
    if (rest.length) out.set(p, rest);
  }
  return out;
}

/**
 * Says when a commit closes offset holes. Nothing is lost by it (a record arriving in one later is checked against
 * main's rows), but each such record then costs a read of the coordinate columns, and one writer pod keeps the holes
 * far below the bound: this is how an operator learns that batches interleave.
 */
export function logClosedHoles(
  log: { info(fields: object, message: string): void },
  topic: string,
  ranges: OffsetRanges,
): void {
  const closed = holesClosedByBound(ranges);
  if (!closed.size) return;
  log.info(
    { topic, closedHoles: Object.fromEntries(closed) },
    'this commit closes offset holes: records arriving in them later are checked against the rows on main',
  );
}

/** JSON form for summaries: `{"0":[[0,99],[120,130]]}` with exact 64-bit numbers, bounded by `boundRanges`. */
export function serializeRanges(ranges: OffsetRanges): string {
  const out: Record<string, bigint[][]> = {};
  for (const [p, list] of [...boundRanges(ranges)].sort((x, y) => x[0] - y[0]))
    out[String(p)] = list.map(([s, e]) => [s, e]);
  return stringifyJson(out);
}

export function parseRanges(text: string | undefined): OffsetRanges {
  if (!text) return new Map();
  const json = parseJson<Record<string, unknown[][]>>(text);
  return new Map(
    Object.entries(json).map(([p, list]) => [
      Number(p),
      normalize(list.map(([s, e]) => [toLong(s, 'offset'), toLong(e, 'offset')])),
    ]),
  );
}

/** Event-payload form: partition → [[start, end]] as decimal strings. */
export function rangesToPayload(ranges: OffsetRanges): Record<string, [string, string][]> {
  return Object.fromEntries(
    [...ranges].map(([p, list]) => [String(p), list.map(([s, e]): [string, string] => [s.toString(), e.toString()])]),
  );
}

export function rangesFromPayload(payload: Record<string, [string, string][]>): OffsetRanges {
  return new Map(
    Object.entries(payload).map(([p, list]) => [Number(p), normalize(list.map(([s, e]) => [BigInt(s), BigInt(e)]))]),
  );
}

/** JSON form for summaries: `{"0":1234}` with exact 64-bit numbers. */
export function serializeClosed(closed: ClosedOffsets): string {
  const out: Record<string, bigint> = {};
  for (const [p, end] of [...closed].sort((x, y) => x[0] - y[0])) out[String(p)] = end;
  return stringifyJson(out);
}

export function parseClosed(text: string | undefined): ClosedOffsets {
  if (!text) return new Map();
  const json = parseJson<Record<string, unknown>>(text);
  return new Map(Object.entries(json).map(([p, end]) => [Number(p), toLong(end, 'offset')]));
}
