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
