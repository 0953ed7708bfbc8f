/**
 * Reads at the tail of a partition log come from the segment's in-memory list of recently appended batches, not from
 * batch headers read back from the file. Both ways must find the same bytes: every offset is read from a log that
 * appended its batches (the in-memory tail, trimmed on the way) and from the same log reopened (the file scan), with
 * batches of 1 to 7 records and sizes around the index interval, across segment rolls.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  append,
  bytesAfter,
  closePartitionLog,
  logEndOffset,
  openPartitionLog,
  read,
  type LogConfig,
  type PartitionLog,
} from '../../local/kafka/log/partition-log.ts';
import { encodeBatch, readBatchHeader, splitBatches } from '../../local/kafka/protocol/record-batch.ts';
import { tempDir } from '../helpers/tmp.ts';

const config: LogConfig = {
  segmentBytes: 1_800_000,
  indexIntervalBytes: 700,
  retentionMs: -1,
  retentionBytes: -1,
  fsync: 'never',
};

let dir: string;
let cleanup: () => Promise<void>;
const open: PartitionLog[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('floe-kafka-tail'));
});
afterEach(async () => {
  for (const log of open.splice(0)) await closePartitionLog(log);
  await cleanup();
});

function openLog(): PartitionLog {
  const { log } = openPartitionLog(dir, 't', 0, config);
  open.push(log);
  return log;
}

/** What a fetch of `offset` sees: the batches' first and last offsets, the bytes available after it, the bytes. */
function view(log: PartitionLog, offset: bigint, maxBytes: number) {
  const result = read(log, offset, maxBytes);
  if (result.kind !== 'ok') return { kind: result.kind };
  const batches = splitBatches(result.records).map(({ batch }) => {
    const h = readBatchHeader(batch);
    return [h.baseOffset, h.baseOffset + BigInt(h.lastOffsetDelta)];
  });
  return { kind: result.kind, batches, after: bytesAfter(log, offset), bytes: result.records.toString('base64') };
}

describe('reads at the tail of a partition log', () => {
  it('find the same batches as a scan of the file, for every offset, across trims and segment rolls', async () => {
    const log = openLog();
    // More batches than the tail keeps (it is trimmed), and more bytes than a segment holds (it rolls).
    let inFirstSegment = 0;
    for (let b = 0; b < 2600; b++) {
      const count = 1 + (b % 7);
      append(
        log,
        await encodeBatch({
          records: Array.from({ length: count }, (_, i) => ({
            key: `k${b}`,
            value: `batch-${b}-record-${i}-${'x'.repeat((b * 37) % 300)}`,
            timestamp: 1_000_000 + b,
          })),
        }),
      );
      if (log.segments.length === 1) inFirstSegment++;
    }
    expect(inFirstSegment).toBeGreaterThan(2048);
    expect(log.segments[0].tail.pos.length).toBeLessThan(inFirstSegment);
    expect(log.segments.length).toBeGreaterThan(1);
    const end = logEndOffset(log);
    const offsets = Array.from({ length: Number(end) + 2 }, (_, i) => BigInt(i));
    const fromTail = offsets.map((o) => view(log, o, o % 3n === 0n ? 1 : 4096));

    open.splice(open.indexOf(log), 1);
    await closePartitionLog(log);
    const reopened = openLog();
    expect(reopened.segments.at(-1)!.tail.pos).toHaveLength(0);
    const fromFile = offsets.map((o) => view(reopened, o, o % 3n === 0n ? 1 : 4096));
    for (let i = 0; i < offsets.length; i++) expect(fromTail[i], `offset ${offsets[i]}`).toEqual(fromFile[i]);

    // A batch containing the offset comes first; past the end nothing, one further out of range.
    expect(fromTail[Number(end) + 1].kind).toBe('out-of-range');
    expect(fromTail[Number(end)]).toMatchObject({ kind: 'ok', batches: [], after: 0 });
    for (let i = 0; i < Number(end); i++) {
      const [first, last] = (fromTail[i] as { batches: bigint[][] }).batches[0];
      expect(first <= BigInt(i) && BigInt(i) <= last, `offset ${i}`).toBe(true);
    }
  });

  it('an append after a reopen starts a new tail that serves the offsets after it', async () => {
    const first = openLog();
    for (let b = 0; b < 5; b++)
      append(first, await encodeBatch({ records: [{ key: 'k', value: `v${b}`, timestamp: 1 }] }));
    open.splice(open.indexOf(first), 1);
    await closePartitionLog(first);
    const log = openLog();
    append(
      log,
      await encodeBatch({
        records: [
          { key: 'k', value: 'v5' },
          { key: 'k', value: 'v6' },
        ],
      }),
    );
    expect(log.segments.at(-1)!.tail.base).toEqual([5]);
    expect(view(log, 6n, 1)).toMatchObject({ kind: 'ok', batches: [[5n, 6n]] });
    expect(view(log, 2n, 1)).toMatchObject({ kind: 'ok', batches: [[2n, 2n]] });
  });
});
