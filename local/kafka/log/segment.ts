/**
 * One log segment: `<baseOffset>.log` holds record batches back to back exactly as fetched, `<baseOffset>.index`
 * holds a sparse offset index of 16-byte entries (offset relative to the base, file position, largest timestamp
 * before that position), one every `indexIntervalBytes`. When a segment is rolled its index gets a closing entry
 * (end offset, file size, largest timestamp), so reopening a closed segment needs no scan; the active segment is
 * always scanned on open, checking every CRC and cutting off a torn tail.
 *
 * File I/O is synchronous on purpose: appends land in the page cache before a produce is acknowledged (what makes
 * acknowledged records survive kill -9), and reads never race with appends or segment deletion.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BATCH_HEADER_SIZE,
  BATCH_PREFIX,
  batchCrcMatches,
  readBatchHeader,
  type BatchHeader,
} from '../protocol/record-batch.ts';

const ENTRY = 16;
const SCAN_CHUNK = 8 * 1024 * 1024;

export interface Segment {
  baseOffset: bigint;
  logPath: string;
  indexPath: string;
  logFd: number;
  indexFd: number;
  size: number;
  /** One past the last offset stored here. */
  nextOffset: bigint;
  /** Largest record timestamp stored here; -1 when empty. */
  maxTimestamp: number;
  /** Index entries: relative offset, position, largest timestamp before position. */
  rel: number[];
  pos: number[];
  ts: number[];
  bytesSinceEntry: number;
  /**
   * The batches appended since the segment was opened, newest last (at most 2 × TAIL_BATCHES): base and last offset
   * relative to the segment's base, position, size. Consumers read at the tail, and each fetch located its offset by
   * reading batch headers back from the file (several reads per fetch, and again for every append while it waited).
   */
  tail: { base: number[]; last: number[]; pos: number[]; size: number[] };
}

/** Batches kept in a segment's in-memory tail (at least; trimmed in halves). */
const TAIL_BATCHES = 1024;

export function segmentName(baseOffset: bigint): string {
  return baseOffset.toString().padStart(20, '0');
}

export function listSegmentBases(dir: string): bigint[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => BigInt(f.slice(0, 20)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function emptySegment(dir: string, baseOffset: bigint): Segment {
  const name = segmentName(baseOffset);
  const logPath = path.join(dir, `${name}.log`);
  const indexPath = path.join(dir, `${name}.index`);
  return {
    baseOffset,
    logPath,
    indexPath,
    logFd: fs.openSync(logPath, fs.constants.O_RDWR | fs.constants.O_CREAT),
    indexFd: fs.openSync(indexPath, fs.constants.O_RDWR | fs.constants.O_CREAT),
    size: 0,
    nextOffset: baseOffset,
    maxTimestamp: -1,
    rel: [],
    pos: [],
    ts: [],
    bytesSinceEntry: 0,
    tail: { base: [], last: [], pos: [], size: [] },
  };
}

export function createSegment(dir: string, baseOffset: bigint): Segment {
  const seg = emptySegment(dir, baseOffset);
  fs.ftruncateSync(seg.logFd, 0);
  fs.ftruncateSync(seg.indexFd, 0);
  return seg;
}

export interface OpenOptions {
  /** Scan every batch, verify CRCs and truncate a torn tail (the active segment after any shutdown). */
  recover: boolean;
  indexIntervalBytes: number;
  /** Called for each batch found by a scan (producer state rebuild). */
  onBatch?: (h: BatchHeader) => void;
}

/** Opens an existing segment. Returns it with the number of bytes cut off the tail (recovery only). */
export function openSegment(
  dir: string,
  baseOffset: bigint,
  options: OpenOptions,
): { segment: Segment; truncatedBytes: number } {
  const seg = emptySegment(dir, baseOffset);
  const fileSize = fs.fstatSync(seg.logFd).size;
  if (!options.recover && !options.onBatch && loadClosedIndex(seg, fileSize))
    return { segment: seg, truncatedBytes: 0 };
  const validEnd = scanSegment(seg, fileSize, options);
  if (validEnd < fileSize) fs.ftruncateSync(seg.logFd, validEnd);
  rewriteIndex(seg, !options.recover);
  return { segment: seg, truncatedBytes: fileSize - validEnd };
}

/** Trusts a closed segment's index when it ends in a closing entry that matches the file. */
function loadClosedIndex(seg: Segment, fileSize: number): boolean {
  const size = fs.fstatSync(seg.indexFd).size;
  if (size < ENTRY || size % ENTRY !== 0) return false;
  const buf = Buffer.alloc(size);
  fs.readSync(seg.indexFd, buf, 0, size, 0);
  const n = size / ENTRY;
  let lastRel = -1;
  let lastPos = -1;
  for (let i = 0; i < n; i++) {
    const rel = buf.readInt32BE(i * ENTRY);
    const pos = buf.readInt32BE(i * ENTRY + 4);
    if (rel <= lastRel || pos <= lastPos || pos > fileSize) return false;
    lastRel = rel;
    lastPos = pos;
  }
  if (lastPos !== fileSize) return false;
  for (let i = 0; i < n - 1; i++) {
    seg.rel.push(buf.readInt32BE(i * ENTRY));
    seg.pos.push(buf.readInt32BE(i * ENTRY + 4));
    seg.ts.push(Number(buf.readBigInt64BE(i * ENTRY + 8)));
  }
  seg.size = fileSize;
  seg.nextOffset = seg.baseOffset + BigInt(lastRel);
  seg.maxTimestamp = Number(buf.readBigInt64BE((n - 1) * ENTRY + 8));
  return true;
}

/** Walks every batch from the start; returns the end of the last valid batch. */
function scanSegment(seg: Segment, fileSize: number, options: OpenOptions): number {
  let chunk = Buffer.alloc(Math.min(SCAN_CHUNK, Math.max(fileSize, BATCH_HEADER_SIZE)));
  let chunkStart = 0;
  let chunkLength = 0;
  let pos = 0;
  const load = (at: number, need: number): boolean => {
    if (at >= chunkStart && at + need <= chunkStart + chunkLength) return true;
    if (at + need > fileSize) return false;
    if (need > chunk.length) chunk = Buffer.alloc(need);
    chunkStart = at;
    chunkLength = fs.readSync(seg.logFd, chunk, 0, Math.min(chunk.length, fileSize - at), at);
    return at + need <= chunkStart + chunkLength;
  };
  while (pos < fileSize) {
    if (!load(pos, BATCH_HEADER_SIZE)) break;
    const h = readBatchHeader(chunk, pos - chunkStart);
    if (h.magic !== 2 || h.size < BATCH_HEADER_SIZE || h.baseOffset !== seg.nextOffset || h.lastOffsetDelta < 0) break;
    if (!load(pos, h.size)) break;
    if (options.recover && !batchCrcMatches(chunk.subarray(pos - chunkStart, pos - chunkStart + h.size))) break;
    noteBatch(seg, h, pos, options.indexIntervalBytes);
    options.onBatch?.(h);
    pos += h.size;
  }
  return pos;
}

/** Bookkeeping for a batch stored at `position`: index entry, end offset, timestamps, size. */
export function noteBatch(seg: Segment, h: BatchHeader, position: number, indexIntervalBytes: number): boolean {
  let indexed = false;
  if (seg.bytesSinceEntry >= indexIntervalBytes) {
    seg.rel.push(Number(h.baseOffset - seg.baseOffset));
    seg.pos.push(position);
    seg.ts.push(seg.maxTimestamp);
    seg.bytesSinceEntry = 0;
    indexed = true;
  }
  seg.bytesSinceEntry += h.size;
  seg.size = position + h.size;
  seg.nextOffset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
  if (h.maxTimestamp > seg.maxTimestamp) seg.maxTimestamp = h.maxTimestamp;
  return indexed;
}

function entryBytes(rel: number, pos: number, ts: number): Buffer {
  const b = Buffer.allocUnsafe(ENTRY);
  b.writeInt32BE(rel, 0);
  b.writeInt32BE(pos, 4);
  b.writeBigInt64BE(BigInt(ts), 8);
  return b;
}

function rewriteIndex(seg: Segment, closed: boolean): void {
  const parts = seg.rel.map((rel, i) => entryBytes(rel, seg.pos[i], seg.ts[i]));
  if (closed) parts.push(closingEntry(seg));
  const buf = Buffer.concat(parts);
  fs.ftruncateSync(seg.indexFd, 0);
  if (buf.length) fs.writeSync(seg.indexFd, buf, 0, buf.length, 0);
}

function closingEntry(seg: Segment): Buffer {
  return entryBytes(Number(seg.nextOffset - seg.baseOffset), seg.size, seg.maxTimestamp);
}

/** Appends a batch whose header has already been stamped with its offset. */
export function appendBatch(seg: Segment, batch: Buffer, h: BatchHeader, indexIntervalBytes: number): void {
  const position = seg.size;
  fs.writeSync(seg.logFd, batch, 0, batch.length, position);
  const { tail } = seg;
  const base = Number(h.baseOffset - seg.baseOffset);
  // Only a batch that follows the tail's last one directly keeps the tail contiguous; otherwise it starts afresh.
  if (tail.pos.length && tail.pos[tail.pos.length - 1] + tail.size[tail.size.length - 1] !== position) {
    for (const list of Object.values(tail)) list.length = 0;
  }
  tail.base.push(base);
  tail.last.push(base + h.lastOffsetDelta);
  tail.pos.push(position);
  tail.size.push(h.size);
  if (tail.pos.length > 2 * TAIL_BATCHES) for (const list of Object.values(tail)) list.splice(0, TAIL_BATCHES);
  if (noteBatch(seg, h, position, indexIntervalBytes)) {
    const i = seg.rel.length - 1;
    fs.writeSync(seg.indexFd, entryBytes(seg.rel[i], seg.pos[i], seg.ts[i]), 0, ENTRY, i * ENTRY);
  }
}

/** Seals a segment that stops being active: closing index entry, and to disk unless fsync is off. */
export function closeForAppends(seg: Segment, sync: boolean): void {
  fs.writeSync(seg.indexFd, closingEntry(seg), 0, ENTRY, seg.rel.length * ENTRY);
  if (sync) {
    fs.fdatasyncSync(seg.logFd);
    fs.fdatasyncSync(seg.indexFd);
  }
}

const headerScratch = Buffer.alloc(BATCH_HEADER_SIZE);

function headerAt(seg: Segment, position: number): BatchHeader | null {
  if (position + BATCH_HEADER_SIZE > seg.size) return null;
  fs.readSync(seg.logFd, headerScratch, 0, BATCH_HEADER_SIZE, position);
  return readBatchHeader(headerScratch);
}

/** Index into the tail of the first batch whose last offset is at or past `rel`, or -1 when the tail cannot tell. */
function tailIndexOf(seg: Segment, rel: number): number {
  const { tail } = seg;
  const n = tail.pos.length;
  // Offsets are assigned contiguously, so every batch before the tail ends below the tail's first base offset.
  if (n === 0 || rel < tail.base[0] || tail.pos[n - 1] + tail.size[n - 1] !== seg.size) return -1;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tail.last[mid] < rel) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The size of the tail's batch at `position`, if the tail holds one there. */
function tailSizeAt(seg: Segment, position: number): number | undefined {
  const { pos, size } = seg.tail;
  let lo = 0;
  let hi = pos.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (pos[mid] === position) return size[mid];
    if (pos[mid] < position) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Position of the first batch whose last offset is at or past `offset`; `size` when there is none. */
export function positionOf(seg: Segment, offset: bigint): number {
  const rel = Number(offset - seg.baseOffset);
  const i = tailIndexOf(seg, rel);
  if (i >= 0) return i < seg.tail.pos.length ? seg.tail.pos[i] : seg.size;
  let lo = 0;
  let hi = seg.rel.length - 1;
  let start = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (seg.rel[mid] <= rel) {
      start = seg.pos[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (let p = start; p < seg.size;) {
    const h = headerAt(seg, p);
    if (!h) break;
    if (h.baseOffset + BigInt(h.lastOffsetDelta) >= offset) return p;
    p += h.size;
  }
  return seg.size;
}

/**
 * Whole batches from `position`, at most `maxBytes` of them — except that the first batch always comes whole, even
 * when larger, so a consumer can always make progress.
 */
export function readBatches(seg: Segment, position: number, maxBytes: number): Buffer {
  const firstSize = tailSizeAt(seg, position) ?? headerAt(seg, position)?.size;
  if (firstSize === undefined) return Buffer.alloc(0);
  const length = Math.min(seg.size - position, Math.max(maxBytes, firstSize));
  const buf = Buffer.allocUnsafe(length);
  fs.readSync(seg.logFd, buf, 0, length, position);
  let end = 0;
  while (end + BATCH_PREFIX <= length) {
    const size = buf.readInt32BE(end + 8) + BATCH_PREFIX;
    if (end + size > length) break;
    end += size;
  }
  return buf.subarray(0, end);
}

/** Batch headers (with positions) between two file positions, for timestamp lookups. */
export function* headersBetween(
  seg: Segment,
  from: number,
  to: number,
): Generator<{ h: BatchHeader; position: number }> {
  for (let p = from; p < to;) {
    const h = headerAt(seg, p);
    if (!h) return;
    yield { h, position: p };
    p += h.size;
  }
}

export function readBatchAt(seg: Segment, position: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  fs.readSync(seg.logFd, buf, 0, size, position);
  return buf;
}

export function closeSegment(seg: Segment): void {
  fs.closeSync(seg.logFd);
  fs.closeSync(seg.indexFd);
}

export function deleteSegment(seg: Segment): void {
  closeSegment(seg);
  fs.rmSync(seg.logPath, { force: true });
  fs.rmSync(seg.indexPath, { force: true });
}
