/**
 * Published Kafka offsets stored bounded: a per-partition watermark with at most MAX_HOLES_PER_PARTITION holes. Gaps
 * that never fill do not grow the summary; gaps that fill later are accepted once, also after the bound closed them
 * (checked against the rows); replays stay filtered.
 */
import { describe, expect, it } from 'vitest';
import {
  boundRanges,
  closeHoles,
  containsOffset,
  coversAll,
  doubtfulOffsets,
  holesClosedByBound,
  logClosedHoles,
  MAX_HOLES_PER_PARTITION,
  mergeClosed,
  mergeRanges,
  overlaps,
  parseClosed,
  parseRanges,
  rangesOf,
  serializeClosed,
  serializeRanges,
  subtractRanges,
  type ClosedOffsets,
  type OffsetRanges,
} from '../../shared/wap/kafka-offsets.ts';

/** What the publisher does with one batch against the stored value: keep the unpublished rows, store the union. */
function publish(
  stored: string,
  offsets: { partition: number; offset: bigint }[],
): { stored: string; accepted: { partition: number; offset: bigint }[] } {
  const published = parseRanges(stored);
  const accepted = offsets.filter((c) => !containsOffset(published, c.partition, c.offset));
  return { stored: serializeRanges(mergeRanges(published, rangesOf(offsets))), accepted };
}

function span(partition: number, from: number, to: number) {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ partition, offset: BigInt(from + i) }));
}

/** A small deterministic generator, so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('bounded offset ranges', () => {
  it('a gap that arrives later is accepted once; never-produced offsets cost one hole each', () => {
    let stored = '';
    stored = publish(stored, span(0, 0, 9)).stored;
    stored = publish(stored, span(0, 20, 29)).stored;
    expect(parseRanges(stored).get(0)).toEqual([
      [0n, 9n],
      [20n, 29n],
    ]);
    const late = publish(stored, span(0, 10, 19));
    expect(late.accepted).toHaveLength(10);
    expect(parseRanges(late.stored).get(0)).toEqual([[0n, 29n]]);
    expect(publish(late.stored, span(0, 0, 29)).accepted).toHaveLength(0);
  });

  it('reads values written before the bound and bounds them on the next write', () => {
    const old = JSON.stringify({ 3: Array.from({ length: 200 }, (_, i) => [i * 10, i * 10 + 4]) });
    const ranges = parseRanges(old);
    expect(ranges.get(3)).toHaveLength(200);
    expect(containsOffset(ranges, 3, 1992n)).toBe(true);
    expect(containsOffset(ranges, 3, 1995n)).toBe(false);
    const rewritten = parseRanges(serializeRanges(ranges)).get(3)!;
    expect(rewritten).toHaveLength(MAX_HOLES_PER_PARTITION + 1);
    // the newest holes are kept; the oldest are closed
    expect(rewritten.at(-1)).toEqual([1990n, 1994n]);
    expect(rewritten[0]).toEqual([0n, (200n - BigInt(MAX_HOLES_PER_PARTITION)) * 10n - 6n]);
  });

  it('says when a commit closes holes, per partition, and is silent otherwise', () => {
    // two writers' batches of one partition, every other offset each: 99 holes after the first is published
    const firstWriter = rangesOf(Array.from({ length: 100 }, (_, i) => ({ partition: 3, offset: BigInt(i * 2) })));
    expect(holesClosedByBound(firstWriter)).toEqual(new Map([[3, 99 - MAX_HOLES_PER_PARTITION]]));
    const lines: { fields: object; message: string }[] = [];
    const log = { info: (fields: object, message: string) => lines.push({ fields, message }) };
    logClosedHoles(log, 'parking-entry', firstWriter);
    expect(lines).toEqual([
      {
        fields: { topic: 'parking-entry', closedHoles: { 3: 99 - MAX_HOLES_PER_PARTITION } },
        message: expect.stringMatching(/checked against the rows on main/),
      },
    ]);
    const both = mergeRanges(
      firstWriter,
      rangesOf(Array.from({ length: 100 }, (_, i) => ({ partition: 3, offset: BigInt(i * 2 + 1) }))),
    );
    logClosedHoles(log, 'parking-entry', both);
    expect(holesClosedByBound(both).size).toBe(0);
    expect(lines).toHaveLength(1);
  });

  it('records the highest closed hole per partition, which only rises, and round-trips it exactly', () => {
    const many: OffsetRanges = new Map([
      [0, Array.from({ length: 10 }, (_, i): [bigint, bigint] => [BigInt(i * 2), BigInt(i * 2)])],
      [1, [[5n, 9n]]],
    ]);
    // bound 3 keeps the holes 13, 15, 17 open and closes 1..11: the highest closed hole ends at 11
    expect(closeHoles(new Map(), many, 3)).toEqual(new Map([[0, 11n]]));
    expect(closeHoles(new Map([[0, 40n]]), many, 3)).toEqual(new Map([[0, 40n]]));
    expect(
      mergeClosed(
        new Map([[0, 3n]]),
        new Map([
          [0, 2n],
          [1, 7n],
        ]),
      ),
    ).toEqual(
      new Map([
        [0, 3n],
        [1, 7n],
      ]),
    );
    const big: ClosedOffsets = new Map([[2, 9_223_372_036_854_775_806n]]);
    expect(serializeClosed(big)).toBe('{"2":9223372036854775806}');
    expect(parseClosed(serializeClosed(big))).toEqual(big);
    expect(parseClosed(undefined)).toEqual(new Map());
  });

  it('doubts only the claimed offsets at or below the closed offset, and subtracts ranges exactly', () => {
    const published: OffsetRanges = new Map([
      [0, [[0n, 100n]]],
      [1, [[0n, 50n]]],
    ]);
    const batch: OffsetRanges = new Map([
      [0, [[90n, 120n]]],
      [1, [[10n, 10n]]],
      [2, [[0n, 5n]]],
    ]);
    // partition 0: claimed up to 100, closed up to 95 → 90..95 doubtful; 96..100 exact; partition 1 has nothing closed
    expect(doubtfulOffsets(published, new Map([[0, 95n]]), batch)).toEqual(new Map([[0, [[90n, 95n]]]]));
    expect(doubtfulOffsets(published, new Map(), batch).size).toBe(0);
    expect(
      subtractRanges(
        new Map([[0, [[0n, 100n]]]]),
        new Map([
          [
            0,
            [
              [10n, 20n],
              [30n, 30n],
              [100n, 120n],
            ],
          ],
          [5, [[0n, 1n]]],
        ]),
      ),
    ).toEqual(
      new Map([
        [
          0,
          [
            [0n, 9n],
            [21n, 29n],
            [31n, 99n],
          ],
        ],
      ]),
    );
    expect(subtractRanges(new Map([[0, [[3n, 4n]]]]), new Map([[0, [[0n, 9n]]]]))).toEqual(new Map());
  });

  it('subtracts and doubts exactly what a set of offsets would, on random ranges', () => {
    const next = random(7);
    const randomRanges = (): OffsetRanges =>
      rangesOf(
        Array.from({ length: Math.floor(next() * 60) }, () => ({
          partition: Math.floor(next() * 2),
          offset: BigInt(Math.floor(next() * 200)),
        })),
      );
    const offsetsOf = (ranges: OffsetRanges) => {
      const out = new Set<string>();
      for (const [p, list] of ranges) for (const [s, e] of list) for (let o = s; o <= e; o++) out.add(`${p}:${o}`);
      return out;
    };
    for (let round = 0; round < 300; round++) {
      const [a, b, batch] = [randomRanges(), randomRanges(), randomRanges()];
      const closed: ClosedOffsets = new Map([[0, BigInt(Math.floor(next() * 200))]]);
      const setA = offsetsOf(a);
      const setB = offsetsOf(b);
      expect(offsetsOf(subtractRanges(a, b))).toEqual(new Set([...setA].filter((c) => !setB.has(c))));
      expect(coversAll(a, b)).toBe([...setB].every((c) => setA.has(c)));
      expect(coversAll(a, subtractRanges(a, b))).toBe(true);
      expect(overlaps(a, b)).toBe([...setB].some((c) => setA.has(c)));
      const doubted = [...offsetsOf(batch)].filter((c) => {
        const [p, o] = c.split(':');
        return setA.has(c) && p === '0' && BigInt(o) <= closed.get(0)!;
      });
      expect(offsetsOf(doubtfulOffsets(a, closed, batch))).toEqual(new Set(doubted));
    }
  });

  it('two writers interleaving a partition lose nothing: a record in a closed hole is checked against the rows', () => {
    // The publisher's rule, modelled: the rows on main are the truth; the summary (bounded ranges + closed offset) is
    // what it reads first, and only doubtful offsets are looked up in the rows.
    const rows = new Set<bigint>();
    let ranges: OffsetRanges = new Map();
    let closed: ClosedOffsets = new Map();
    let lookups = 0;
    const publish = (offsets: bigint[]) => {
      const batch = rangesOf(offsets.map((offset) => ({ partition: 0, offset })));
      const doubtful = doubtfulOffsets(ranges, closed, batch);
      if (doubtful.size) lookups++;
      const absent = rangesOf(
        [...(doubtful.get(0) ?? [])].flatMap(([s, e]) => {
          const out: { partition: number; offset: bigint }[] = [];
          for (let o = s; o <= e; o++) if (!rows.has(o)) out.push({ partition: 0, offset: o });
          return out;
        }),
      );
      const held = subtractRanges(ranges, absent);
      let added = 0;
      for (const offset of offsets) {
        if (containsOffset(held, 0, offset)) continue;
        expect(rows.has(offset)).toBe(false);
        rows.add(offset);
        added++;
      }
      const merged = mergeRanges(held, batch);
      closed = closeHoles(closed, merged);
      ranges = parseRanges(serializeRanges(merged));
      closed = parseClosed(serializeClosed(closed));
      return added;
    };
    const writerA = Array.from({ length: 500 }, (_, i) => BigInt(i * 2));
    const writerB = Array.from({ length: 500 }, (_, i) => BigInt(i * 2 + 1));
    expect(publish(writerA)).toBe(500);
    expect(closed.get(0)).toBeDefined();
    expect(publish(writerB)).toBe(500);
    // replays of both, whole and in pieces, add nothing
    expect(publish(writerA)).toBe(0);
    expect(publish(writerB.slice(100, 300))).toBe(0);
    expect(publish([...writerA, ...writerB])).toBe(0);
    expect(rows.size).toBe(1000);
    expect(lookups).toBeGreaterThan(0);
    expect(ranges.get(0)!.length).toBeLessThanOrEqual(MAX_HOLES_PER_PARTITION + 1);
  });

  it('closes the oldest holes first, keeping the newest ones open', () => {
    const many: OffsetRanges = new Map([
      [0, Array.from({ length: 10 }, (_, i): [bigint, bigint] => [BigInt(i * 2), BigInt(i * 2)])],
    ]);
    expect(boundRanges(many, 3).get(0)).toEqual([
      [0n, 12n],
      [14n, 14n],
      [16n, 16n],
      [18n, 18n],
    ]);
    expect(boundRanges(many, 20).get(0)).toHaveLength(10);
  });

  it('100k batches with random never-produced gaps, late batches and redeliveries: bounded summary, every record once', () => {
    const next = random(42);
    const partitions = 4;
    const produced = Array.from({ length: partitions }, () => 0);
    const accepted = Array.from({ length: partitions }, () => new Set<bigint>());
    const expected = Array.from({ length: partitions }, () => 0);
    const late: { due: number; offsets: { partition: number; offset: bigint }[] }[] = [];
    // What main holds, kept as the publisher stores it (bounded); every 100th batch goes through the summary text.
    let published: OffsetRanges = new Map();
    let maxSize = 0;
    let maxRanges = 0;
    let twice = 0;
    const apply = (offsets: { partition: number; offset: bigint }[]) => {
      for (const { partition, offset } of offsets) {
        if (containsOffset(published, partition, offset)) continue;
        if (accepted[partition].has(offset)) twice++;
        accepted[partition].add(offset);
      }
      published = boundRanges(mergeRanges(published, rangesOf(offsets)));
    };
    for (let batch = 0; batch < 100_000; batch++) {
      const partition = Math.floor(next() * partitions);
      // 1..12 records with gaps of offsets that are never produced (markers, compaction, dead letters)
      const offsets: { partition: number; offset: bigint }[] = [];
      const records = 1 + Math.floor(next() * 12);
      for (let i = 0; i < records; i++) {
        if (next() < 0.1) produced[partition] += 1 + Math.floor(next() * 3);
        offsets.push({ partition, offset: BigInt(produced[partition]++) });
      }
      expected[partition] += offsets.length;
      // one batch in ten is published up to eight batches later (a slow concurrent batch)
      if (next() < 0.1) late.push({ due: batch + 1 + Math.floor(next() * 8), offsets });
      else apply(offsets);
      if (late.some((l) => l.due <= batch)) {
        for (const waiting of late.filter((l) => l.due <= batch)) apply(waiting.offsets);
        late.splice(0, late.length, ...late.filter((l) => l.due > batch));
      }
      // a redelivery of an already published record, now and then
      if (next() < 0.05) {
        const back = BigInt(Math.floor(next() * produced[partition]));
        if (accepted[partition].has(back) && !containsOffset(published, partition, back)) twice++;
      }
      if (batch % 100 === 0) {
        const text = serializeRanges(published);
        maxSize = Math.max(maxSize, text.length);
        published = parseRanges(text);
        for (const list of published.values()) maxRanges = Math.max(maxRanges, list.length);
      }
    }
    for (const waiting of late) apply(waiting.offsets);
    expect(twice).toBe(0);
    expect(accepted.map((s) => s.size)).toEqual(expected);
    expect(maxRanges).toBeLessThanOrEqual(MAX_HOLES_PER_PARTITION + 1);
    expect(maxRanges).toBeGreaterThan(MAX_HOLES_PER_PARTITION / 2);
    // 4 partitions × 65 ranges × two offsets of at most 7 digits here, plus punctuation
    expect(maxSize).toBeLessThan(4 * (MAX_HOLES_PER_PARTITION + 1) * 20);
    const final = parseRanges(serializeRanges(published));
    let missing = 0;
    for (let p = 0; p < partitions; p++)
      for (const offset of accepted[p]) if (!containsOffset(final, p, offset)) missing++;
    expect(missing).toBe(0);
  });
});
