/**
 * Partition logs on disk: segment rolling and reads across segments, reopening (closed segments from their index,
 * the active one by scanning), a torn tail cut off at the last whole batch, retention by size and time, offsets by
 * timestamp, and idempotent-producer state surviving a reopen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  append,
  applyRetention,
  bytesAfter,
  closePartitionLog,
  logEndOffset,
  offsetForTimestamp,
  openPartitionLog,
  read,
  type LogConfig,
  type PartitionLog,
} from '../../local/kafka/log/partition-log.ts';
import { checkSequence } from '../../local/kafka/log/producer-state.ts';
import { ErrorCode } from '../../local/kafka/protocol/errors.ts';
import { decodeRecords, encodeBatch, readBatchHeader, splitBatches } from '../../local/kafka/protocol/record-batch.ts';
import { tempDir } from '../helpers/tmp.ts';

const config: LogConfig = {
  segmentBytes: 4096,
  indexIntervalBytes: 512,
  retentionMs: -1,
  retentionBytes: -1,
  fsync: 'never',
};

let dir: string;
let cleanup: () => Promise<void>;
const open: PartitionLog[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('floe-kafka-log'));
});
afterEach(async () => {
  for (const log of open.splice(0)) await closePartitionLog(log);
  await cleanup();
});

function openLog(c: LogConfig = config) {
  const result = openPartitionLog(dir, 't', 0, c);
  open.push(result.log);
  return result;
}

async function close(log: PartitionLog) {
  open.splice(open.indexOf(log), 1);
  await closePartitionLog(log);
}

/** Appends `n` batches of 10 records (~300 bytes each) with timestamps 1000 ms apart per batch. */
async function fill(log: PartitionLog, n: number, startTs = 1_000_000) {
  for (let b = 0; b < n; b++) {
    const batch = await encodeBatch({
      records: Array.from({ length: 10 }, (_, i) => ({
        key: `k${i}`,
        value: `batch-${b}-record-${i}`,
        timestamp: startTs + b * 1000 + i,
      })),
    });
    append(log, batch);
  }
}

async function readAll(log: PartitionLog, from = 0n): Promise<string[]> {
  const values: string[] = [];
  let offset = from;
  while (offset < logEndOffset(log)) {
    const result = read(log, offset, 1500);
    if (result.kind !== 'ok') throw new Error('out of range');
    for (const { batch } of splitBatches(result.records)) {
      for (const r of await decodeRecords(batch)) if (r.offset >= offset) values.push(`${r.offset}:${r.value}`);
      offset = readBatchHeader(batch).baseOffset + BigInt(readBatchHeader(batch).lastOffsetDelta) + 1n;
    }
  }
  return values;
}

describe('partition log', () => {
  it('rolls segments and reads every offset back across them, also after reopening', async () => {
    const { log } = openLog();
    await fill(log, 40);
    expect(log.segments.length).toBeGreaterThan(3);
    expect(logEndOffset(log)).toBe(400n);
    const values = await readAll(log);
    expect(values).toHaveLength(400);
    expect(values[123]).toBe('123:batch-12-record-3');
    expect((await readAll(log, 257n))[0]).toBe('257:batch-25-record-7');
    await close(log);

    const reopened = openLog();
    expect(reopened.truncatedBytes).toBe(0);
    expect(reopened.log.segments.length).toBe(log.segments.length);
    expect(logEndOffset(reopened.log)).toBe(400n);
    expect(await readAll(reopened.log)).toEqual(values);
    expect(read(reopened.log, 401n, 100)).toEqual({ kind: 'out-of-range' });
  });

  it('cuts a torn tail off the active segment and appends after it', async () => {
    const { log } = openLog({ ...config, segmentBytes: 1 << 20 });
    await fill(log, 5);
    const active = log.segments.at(-1)!;
    await close(log);
    const full = fs.readFileSync(active.logPath);
    // A batch that was being written when the process died: its first 40 bytes, then nothing.
    const next = await encodeBatch({ baseOffset: 50n, records: [{ value: 'lost' }] });
    fs.appendFileSync(active.logPath, next.subarray(0, 40));
    const { log: recovered, truncatedBytes } = openLog({ ...config, segmentBytes: 1 << 20 });
    expect(truncatedBytes).toBe(40);
    expect(fs.statSync(active.logPath).size).toBe(full.length);
    expect(logEndOffset(recovered)).toBe(50n);
    append(recovered, await encodeBatch({ records: [{ value: 'after-recovery' }] }));
    expect((await readAll(recovered)).at(-1)).toBe('50:after-recovery');
  });

  it('cuts at a batch whose CRC does not match', async () => {
    const { log } = openLog({ ...config, segmentBytes: 1 << 20 });
    await fill(log, 3);
    const active = log.segments.at(-1)!;
    await close(log);
    const bytes = fs.readFileSync(active.logPath);
    const second = readBatchHeader(bytes).size;
    bytes[second + 70] ^= 0xff; // a flipped byte inside the second batch's records
    fs.writeFileSync(active.logPath, bytes);
    const { log: recovered, truncatedBytes } = openLog({ ...config, segmentBytes: 1 << 20 });
    expect(truncatedBytes).toBe(bytes.length - second);
    expect(logEndOffset(recovered)).toBe(10n);
  });

  it('deletes head segments by size and by time, never the active one, and moves the log start offset', async () => {
    const { log } = openLog();
    await fill(log, 40, 1_000_000);
    const before = log.segments.length;
    expect(applyRetention(log, Date.now(), { retentionMs: -1, retentionBytes: 8192 })).toBeGreaterThan(0);
    expect(log.segments.reduce((n, s) => n + s.size, 0)).toBeLessThan(8192 + 4096);
    expect(log.logStartOffset).toBe(log.segments[0].baseOffset);
    expect(read(log, 0n, 100)).toEqual({ kind: 'out-of-range' });
    expect(log.segments.length).toBeLessThan(before);
    // Every remaining record predates "now - 1 s": all but the active segment go.
    applyRetention(log, Date.now(), { retentionMs: 1000, retentionBytes: -1 });
    expect(log.segments).toHaveLength(1);
    expect(logEndOffset(log)).toBe(400n);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);
  });

  it('finds the first record at or after a timestamp', async () => {
    const { log } = openLog();
    await fill(log, 40, 1_000_000);
    expect(await offsetForTimestamp(log, 0)).toEqual({ offset: 0n, timestamp: 1_000_000 });
    expect(await offsetForTimestamp(log, 1_000_000 + 17_004)).toEqual({ offset: 174n, timestamp: 1_017_004 });
    expect(await offsetForTimestamp(log, 1_000_000 + 17_010)).toEqual({ offset: 180n, timestamp: 1_018_000 });
    expect(await offsetForTimestamp(log, 9_999_999)).toBeNull();
  });

  it('keeps idempotent-producer sequences across segment rolls and reopening', async () => {
    const { log } = openLog();
    const batch = (seq: number) =>
      encodeBatch({
        producerId: 7n,
        producerEpoch: 0,
        baseSequence: seq,
        records: Array.from({ length: 10 }, (_, i) => ({ value: `p-${seq + i}-${'z'.repeat(40)}` })),
      });
    for (let seq = 0; seq < 300; seq += 10) append(log, await batch(seq));
    expect(log.segments.length).toBeGreaterThan(2);
    await close(log);
    const { log: reopened } = openLog();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot'))).toHaveLength(1);
    const header = (b: Buffer) => readBatchHeader(b);
    expect(checkSequence(reopened.producers, header(await batch(290)))).toEqual({
      kind: 'duplicate',
      baseOffset: 290n,
    });
    expect(checkSequence(reopened.producers, header(await batch(300)))).toEqual({ kind: 'append' });
    expect(checkSequence(reopened.producers, header(await batch(310)))).toMatchObject({
      kind: 'error',
      code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    const stale = await encodeBatch({
      producerId: 7n,
      producerEpoch: -1,
      baseSequence: 300,
      records: [{ value: 'x' }],
    });
    expect(checkSequence(reopened.producers, header(stale))).toMatchObject({
      kind: 'error',
      code: ErrorCode.INVALID_PRODUCER_EPOCH,
    });
    // Without the snapshot the state is rebuilt from every segment.
    await close(reopened);
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.snapshot')) fs.rmSync(path.join(dir, f));
    const { log: rebuilt } = openLog();
    expect(checkSequence(rebuilt.producers, header(await batch(290)))).toEqual({ kind: 'duplicate', baseOffset: 290n });
  });
});

/**
 * Tail reads: a segment keeps its recently appended batches in memory, so reads at the tail do not read batch
 * headers back from the file. Both ways must find the same bytes: every offset is read from a log that appended its
 * batches (the in-memory tail, trimmed on the way) and from the same log reopened (the file scan), with batches of 1
 * to 7 records and sizes around the index interval, across segment rolls.
 */
const tailConfig: LogConfig = { ...config, segmentBytes: 1_800_000, indexIntervalBytes: 700 };

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
    const log = openLog(tailConfig).log;
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

    await close(log);
    const reopened = openLog(tailConfig).log;
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
    const first = openLog(tailConfig).log;
    for (let b = 0; b < 5; b++)
      append(first, await encodeBatch({ records: [{ key: 'k', value: `v${b}`, timestamp: 1 }] }));
    await close(first);
    const log = openLog(tailConfig).log;
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
