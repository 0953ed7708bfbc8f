/**
 * Two writer pods sharing a partition's records, as Knative load-balances the writer Service: each batch holds every
 * other offset, so publishing the first leaves hundreds of holes and the bound of kafka-offsets.ts closes most of them.
 * The other pod's batch lands in those closed holes; its records must still reach main once, the janitor must not
 * take its branch for published, and replays of both must still be dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTables } from '../../shared/catalog/table-catalog.ts';
import { snapshotForRef } from '../../shared/iceberg/metadata.ts';
import { compactTable } from '../../shared/maintenance/compaction.ts';
import { MAX_HOLES_PER_PARTITION } from '../../shared/wap/kafka-offsets.ts';
import { publishedOffsets } from '../../shared/wap/published-offsets.ts';
import { cleanWapBranches } from '../../shared/wap/branch-cleanup.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { driven, kafkaEvent, type KafkaRecord } from './chain-runner.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ FLOE_BATCH_LINGER_MS: '20' });
});
afterAll(() => stack?.stop());

const RECORDS = 6 * MAX_HOLES_PER_PARTITION;

function record(offset: number): KafkaRecord {
  const value = JSON.stringify({
    event_id: `ev-${offset}`,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    car_id: `B-${offset}`,
    slot: `A-${String(offset % 50).padStart(3, '0')}`,
    latitude: 52.5205,
    longitude: 13.405,
  });
  return { topic: 'parking-entry', partition: 0, offset, value: Buffer.from(value), key: `car-${offset}` };
}

async function coordinatesOnMain(): Promise<string[]> {
  const { trusted, untrusted } = await stack.mainRows('parking_entry');
  return [...trusted, ...untrusted].map((r) => `${r[Column.partition]}:${r[Column.offset]}`).sort();
}

describe('two writer pods interleaving one partition', () => {
  it('publishes both batches exactly once although the first closes the holes the second fills', async () => {
    const tagger = driven(taggerFunction(stack.runtime));
    const writerA = driven(writerFunction(stack.runtime));
    const writerB = driven(writerFunction(stack.runtime));
    const auditor = driven(auditorFunction(stack.runtime));
    const publisher = driven(publisherFunction(stack.runtime));
    const records = Array.from({ length: RECORDS }, (_, i) => record(i));
    // Pod A gets the even offsets; pod B the odd ones, the lowest third in its first batch and the rest in a later one.
    const even = await tagger.deliver(records.filter((r) => r.offset % 2 === 0).map(kafkaEvent));
    const odd = await tagger.deliver(
      records.filter((r) => r.offset % 2 === 1 && r.offset < RECORDS / 3).map(kafkaEvent),
    );
    const laterOdd = await tagger.deliver(
      records.filter((r) => r.offset % 2 === 1 && r.offset >= RECORDS / 3).map(kafkaEvent),
    );

    // Both pods write their batch before either is published: two WAP branches in flight.
    const writtenA = await writerA.deliver(even.out);
    const writtenB = await writerB.deliver(odd.out);
    expect([writtenA.out.length, writtenB.out.length]).toEqual([1, 1]);
    const auditedA = await auditor.deliver(writtenA.out);
    const auditedB = await auditor.deliver(writtenB.out);
    expect((await publisher.deliver(auditedA.out)).failures).toEqual([]);

    // The first publish closed the lowest holes: main's summary now claims every offset of B's batch, without its rows.
    const names = ['production.parking_entry', 'production.parking_entry_untrusted'];
    const { tables } = await loadTables(stack.catalog, 'main', names);
    const recorded = publishedOffsets(
      [...tables.values()].map((t) => t.metadata),
      'parking-entry',
    );
    expect(recorded.closed.get(0)).toBeGreaterThan(BigInt(RECORDS / 3));
    expect(recorded.ranges.get(0)!.length).toBeLessThanOrEqual(MAX_HOLES_PER_PARTITION + 1);
    expect(await coordinatesOnMain()).toHaveLength(RECORDS / 2);

    // The janitor, run as if long after, sees the second batch as stalled (to re-drive), not as published.
    const janitor = await cleanWapBranches(stack.catalog, {
      config: stack.runtime.env.pipeline,
      log: silentLogger,
      dryRun: true,
      emit: async () => {},
      now: () => Date.now() + 3_600_000,
    });
    const second = janitor.actions.filter((a) => a.branch === auditedB.out[0].attributes.nessiebranch);
    expect(second.map((a) => a.action)).toEqual(['redrive']);

    const publishedB = await publisher.deliver(auditedB.out);
    expect(publishedB.failures).toEqual([]);
    expect(publishedB.out.map((e) => e.attributes.type)).toEqual(['dev.floe.batch.published']);
    const laterB = await publisher.deliver((await auditor.deliver((await writerB.deliver(laterOdd.out)).out)).out);
    expect(laterB.out.map((e) => e.attributes.type)).toEqual(['dev.floe.batch.published']);
    const everyRecord = records.map((r) => `0:${r.offset}`).sort();
    expect(await coordinatesOnMain()).toEqual(everyRecord);

    // A compaction's `replace` snapshot carries the closed offsets with the ranges, so replays are still checked.
    await compactTable(stack.catalog, names[0], {
      log: silentLogger,
      engine: 'js',
      options: { 'rewrite-all': 'true' },
    });
    const compacted = (await loadTables(stack.catalog, 'main', names)).tables;
    expect(snapshotForRef(compacted.get(names[0])!.metadata, 'main')!.summary.operation).toBe('replace');
    const carried = publishedOffsets(
      [...compacted.values()].map((t) => t.metadata),
      'parking-entry',
    );
    expect(carried.closed.get(0)).toBeGreaterThanOrEqual(recorded.closed.get(0)!);

    // Replays: both pods get all the records again, in one more batch each; main does not change.
    const again = await tagger.deliver(records.map(kafkaEvent));
    const rewritten = [
      ...(await writerA.deliver(again.out.slice(0, RECORDS / 2))).out,
      ...(await writerB.deliver(again.out.slice(RECORDS / 2))).out,
    ];
    const reaudited = await auditor.deliver(rewritten);
    const republished = await publisher.deliver(reaudited.out);
    expect(republished.failures).toEqual([]);
    expect(await coordinatesOnMain()).toEqual(everyRecord);
  });
});
