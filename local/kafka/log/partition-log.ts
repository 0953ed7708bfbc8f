/**
 * The log of one topic partition: segments in a directory, appends at the end, reads from any offset, retention
 * from the head. Offsets are bigint throughout (Kafka offsets are 64-bit).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Attr, decodeRecords, readBatchHeader, stampBatch, type BatchHeader } from '../protocol/record-batch.ts';
import {
  appendBatch,
  closeForAppends,
  closeSegment,
  createSegment,
  deleteSegment,
  headersBetween,
  listSegmentBases,
  openSegment,
  positionOf,
  readBatchAt,
  readBatches,
  segmentName,
  type Segment,
} from './segment.ts';
import { parseProducerStates, recordBatch, serializeProducerStates, type ProducerStates } from './producer-state.ts';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface LogConfig {
  segmentBytes: number;
  indexIntervalBytes: number;
  /** -1: keep forever. */
  retentionMs: number;
  /** Per partition; -1: no size limit. */
  retentionBytes: number;
  fsync: FsyncPolicy;
}

export interface PartitionLog {
  topic: string;
  partition: number;
  dir: string;
  config: LogConfig;
  segments: Segment[];
  logStartOffset: bigint;
  producers: ProducerStates;
  /** Called after every append (fetch long-polls wait on this). */
  onAppend: Set<() => void>;
  /** Bytes were written since the last fsync. */
  dirty: boolean;
  flushing: Promise<void> | null;
  flushQueued: Promise<void> | null;
  closed: boolean;
}

export interface OpenResult {
  log: PartitionLog;
  truncatedBytes: number;
}

export function activeSegment(log: PartitionLog): Segment {
  return log.segments[log.segments.length - 1];
}

export function logEndOffset(log: PartitionLog): bigint {
  return activeSegment(log).nextOffset;
}

export function logSize(log: PartitionLog): number {
  return log.segments.reduce((sum, s) => sum + s.size, 0);
}

function snapshotPath(dir: string, baseOffset: bigint): string {
  return path.join(dir, `${segmentName(baseOffset)}.snapshot`);
}

/** Opens (or creates) a partition directory, recovering the active segment and the producer state. */
export function openPartitionLog(dir: string, topic: string, partition: number, config: LogConfig): OpenResult {
  fs.mkdirSync(dir, { recursive: true });
  const bases = listSegmentBases(dir);
  const segments: Segment[] = [];
  let producers: ProducerStates = new Map();
  let truncatedBytes = 0;
  if (bases.length === 0) {
    segments.push(createSegment(dir, 0n));
  } else {
    const activeBase = bases[bases.length - 1];
    const snapshot = snapshotPath(dir, activeBase);
    const haveSnapshot = fs.existsSync(snapshot);
    if (haveSnapshot) producers = parseProducerStates(fs.readFileSync(snapshot, 'utf8'));
    const onBatch = (h: BatchHeader) => recordBatch(producers, h);
    for (const base of bases) {
      const active = base === activeBase;
      const opened = openSegment(dir, base, {
        recover: active,
        indexIntervalBytes: config.indexIntervalBytes,
        onBatch: active || !haveSnapshot ? onBatch : undefined,
      });
      segments.push(opened.segment);
      truncatedBytes += opened.truncatedBytes;
    }
  }
  const log: PartitionLog = {
    topic,
    partition,
    dir,
    config,
    segments,
    logStartOffset: segments[0].baseOffset,
    producers,
    onAppend: new Set(),
    dirty: false,
    flushing: null,
    flushQueued: null,
    closed: false,
  };
  return { log, truncatedBytes };
}

function roll(log: PartitionLog): void {
  const old = activeSegment(log);
  closeForAppends(old, log.config.fsync !== 'never');
  const next = createSegment(log.dir, old.nextOffset);
  log.segments.push(next);
  // The producer state as of the new segment's start, so that reopening never has to read older segments.
  const snapshot = snapshotPath(log.dir, next.baseOffset);
  fs.writeFileSync(`${snapshot}.tmp`, serializeProducerStates(log.producers));
  fs.renameSync(`${snapshot}.tmp`, snapshot);
  for (const f of fs.readdirSync(log.dir)) {
    if (f.endsWith('.snapshot') && f !== path.basename(snapshot)) fs.rmSync(path.join(log.dir, f), { force: true });
  }
}

/**
 * Appends one validated batch (the buffer is stamped in place with its offset). Returns the base offset assigned.
 */
export function append(log: PartitionLog, batch: Buffer): bigint {
  if (log.closed) throw new Error(`log ${log.topic}-${log.partition} is closed`);
  let seg = activeSegment(log);
  if (seg.size > 0 && seg.size + batch.length > log.config.segmentBytes) {
    roll(log);
    seg = activeSegment(log);
  }
  const baseOffset = seg.nextOffset;
  stampBatch(batch, baseOffset);
  const h = readBatchHeader(batch);
  appendBatch(seg, batch, h, log.config.indexIntervalBytes);
  recordBatch(log.producers, h);
  log.dirty = true;
  for (const listener of log.onAppend) listener();
  return baseOffset;
}

function segmentFor(log: PartitionLog, offset: bigint): Segment | undefined {
  let found: Segment | undefined;
  for (const s of log.segments) {
    if (s.baseOffset <= offset) found = s;
    else break;
  }
  return found;
}

export type ReadResult = { kind: 'ok'; records: Buffer } | { kind: 'out-of-range' };

/** Batches starting at the one holding `offset`, up to `maxBytes` (the first batch always whole). */
export function read(log: PartitionLog, offset: bigint, maxBytes: number): ReadResult {
  const end = logEndOffset(log);
  if (offset < log.logStartOffset || offset > end) return { kind: 'out-of-range' };
  if (offset === end) return { kind: 'ok', records: Buffer.alloc(0) };
  for (let seg = segmentFor(log, offset); seg; seg = log.segments[log.segments.indexOf(seg) + 1]) {
    const position = positionOf(seg, offset);
    if (position < seg.size) return { kind: 'ok', records: readBatches(seg, position, maxBytes) };
  }
  return { kind: 'ok', records: Buffer.alloc(0) };
}

/** Bytes available from `offset` to the end, for fetch min-bytes checks (an estimate at batch granularity). */
export function bytesAfter(log: PartitionLog, offset: bigint): number {
  const end = logEndOffset(log);
  if (offset >= end || offset < log.logStartOffset) return 0;
  const seg = segmentFor(log, offset);
  if (!seg) return 0;
  let total = seg.size - positionOf(seg, offset);
  for (const s of log.segments) if (s.baseOffset > seg.baseOffset) total += s.size;
  return total;
}

/** The first record at or after `timestamp`, or null when every record is older. */
export async function offsetForTimestamp(
  log: PartitionLog,
  timestamp: number,
): Promise<{ offset: bigint; timestamp: number } | null> {
  const seg = log.segments.find((s) => s.maxTimestamp >= timestamp);
  if (!seg) return null;
  const j = seg.ts.findIndex((t) => t >= timestamp);
  const from = j > 0 ? seg.pos[j - 1] : j === 0 ? 0 : (seg.pos[seg.pos.length - 1] ?? 0);
  const to = j >= 0 ? seg.pos[j] : seg.size;
  for (const { h, position } of headersBetween(seg, from, to)) {
    if (h.maxTimestamp < timestamp || h.attributes & Attr.control) continue;
    for (const record of await decodeRecords(readBatchAt(seg, position, h.size))) {
      if (record.timestamp >= timestamp) return { offset: record.offset, timestamp: record.timestamp };
    }
  }
  return null;
}

/** Deletes head segments past the retention limits; never the active one. Returns how many were deleted. */
export function applyRetention(
  log: PartitionLog,
  now: number,
  limits: { retentionMs: number; retentionBytes: number } = log.config,
): number {
  let deleted = 0;
  let total = logSize(log);
  while (log.segments.length > 1) {
    const head = log.segments[0];
    const expired = limits.retentionMs >= 0 && head.maxTimestamp >= 0 && head.maxTimestamp < now - limits.retentionMs;
    const oversized = limits.retentionBytes >= 0 && total - head.size >= limits.retentionBytes;
    if (!expired && !oversized) break;
    log.segments.shift();
    deleteSegment(head);
    total -= head.size;
    deleted++;
  }
  if (log.segments[0].baseOffset > log.logStartOffset) log.logStartOffset = log.segments[0].baseOffset;
  return deleted;
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Forces what was appended so far to disk. Concurrent callers share fsyncs: while one runs, later callers wait for
 * the next one, which covers all their writes (group commit).
 */
export function flush(log: PartitionLog): Promise<void> {
  if (log.flushQueued) return log.flushQueued;
  const run = async () => {
    if (log.closed || !log.dirty) return;
    log.dirty = false;
    await fdatasync(activeSegment(log).logFd);
  };
  if (log.flushing) {
    log.flushQueued = log.flushing.then(() => {
      log.flushQueued = null;
      return start();
    });
    return log.flushQueued;
  }
  function start(): Promise<void> {
    log.flushing = run().finally(() => {
      log.flushing = null;
    });
    return log.flushing;
  }
  return start();
}

export async function closePartitionLog(log: PartitionLog): Promise<void> {
  if (log.closed) return;
  await Promise.allSettled([log.flushing, log.flushQueued]);
  if (log.config.fsync !== 'never' && log.dirty) fs.fdatasyncSync(activeSegment(log).logFd);
  log.closed = true;
  log.onAppend.clear();
  for (const s of log.segments) closeSegment(s);
}

export function deletePartitionLog(log: PartitionLog): void {
  log.closed = true;
  log.onAppend.clear();
  for (const s of log.segments) closeSegment(s);
  fs.rmSync(log.dir, { recursive: true, force: true });
}
