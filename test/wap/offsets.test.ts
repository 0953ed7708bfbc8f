/**
 * Published Kafka offsets stored bounded: a per-partition watermark with at most MAX_HOLES_PER_PARTITION holes. Gaps
 * that never fill do not grow the summary; gaps that fill later are accepted once; replays stay filtered.
 */
import { describe, expect, it } from 'vitest';
import {
  boundRanges,
  containsOffset,
  holesClosedByBound,
  MAX_HOLES_PER_PARTITION,
  mergeRanges,
  parseRanges,
  rangesOf,
  serializeRanges,
  warnOfClosedHoles,
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
    const warnings: { fields: object; message: string }[] = [];
    const log = { warn: (fields: object, message: string) => warnings.push({ fields, message }) };
    warnOfClosedHoles(log, 'parking-entry', firstWriter);
    expect(warnings).toEqual([
      {
        fields: { topic: 'parking-entry', closedHoles: { 3: 99 - MAX_HOLES_PER_PARTITION } },
        message: expect.stringMatching(/records still in flight in them will be dropped as replays/),
      },
    ]);
    const both = mergeRanges(
      firstWriter,
      rangesOf(Array.from({ length: 100 }, (_, i) => ({ partition: 3, offset: BigInt(i * 2 + 1) }))),
    );
    warnOfClosedHoles(log, 'parking-entry', both);
    expect(holesClosedByBound(both).size).toBe(0);
    expect(warnings).toHaveLength(1);
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
