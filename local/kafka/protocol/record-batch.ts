/**
 * Record batch v2 (magic 2): the unit producers send, the log stores and fetches return. The broker reads only the
 * 61-byte header on the hot path (offsets are assigned by rewriting `baseOffset`, which the CRC does not cover);
 * records are decoded only when something must look inside (timestamp lookups, tests, the local stack).
 */
import { crc32c } from './crc32c.ts';
import { codecFor, Compression, type CompressionType } from './compression.ts';
import { DecodeError, Reader } from './reader.ts';
import { Writer } from './writer.ts';

export const BATCH_HEADER_SIZE = 61;
/** Bytes before `batchLength`'s count starts: baseOffset (8) + batchLength (4). */
export const BATCH_PREFIX = 12;
const MAGIC_AT = 16;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;

export const Attr = { compressionMask: 0x07, timestampType: 0x08, transactional: 0x10, control: 0x20 } as const;

export interface BatchHeader {
  baseOffset: bigint;
  /** Whole batch size in bytes, the 12-byte prefix included. */
  size: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface KafkaRecord {
  offset: bigint;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** Reads a batch header at `pos`; the caller makes sure 61 bytes are there. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: buf.readBigInt64BE(pos),
    size: buf.readInt32BE(pos + 8) + BATCH_PREFIX,
    partitionLeaderEpoch: buf.readInt32BE(pos + 12),
    magic: buf.readInt8(pos + MAGIC_AT),
    crc: buf.readUInt32BE(pos + CRC_AT),
    attributes: buf.readInt16BE(pos + ATTRIBUTES_AT),
    lastOffsetDelta: buf.readInt32BE(pos + 23),
    baseTimestamp: Number(buf.readBigInt64BE(pos + 27)),
    maxTimestamp: Number(buf.readBigInt64BE(pos + 35)),
    producerId: buf.readBigInt64BE(pos + 43),
    producerEpoch: buf.readInt16BE(pos + 51),
    baseSequence: buf.readInt32BE(pos + 53),
    recordsCount: buf.readInt32BE(pos + 57),
  };
}

export function lastOffset(h: BatchHeader): bigint {
  return h.baseOffset + BigInt(h.lastOffsetDelta);
}

export function batchCrcMatches(batch: Buffer): boolean {
  return crc32c(batch, ATTRIBUTES_AT, batch.length) === batch.readUInt32BE(CRC_AT);
}

/** Rewrites the fields the broker owns; neither is covered by the CRC. */
export function stampBatch(batch: Buffer, baseOffset: bigint, partitionLeaderEpoch = 0): void {
  batch.writeBigInt64BE(baseOffset, 0);
  batch.writeInt32BE(partitionLeaderEpoch, 12);
}

/** Why a batch a producer sent cannot be stored, or null when it can. */
export function batchProblem(batch: Buffer, h: BatchHeader): string | null {
  if (h.magic !== 2) return `unsupported magic ${h.magic} (only record batch v2)`;
  if (h.size !== batch.length) return 'batch length does not match its bytes';
  if (!batchCrcMatches(batch)) return 'CRC32C mismatch';
  if ((h.attributes & Attr.compressionMask) > Compression.zstd)
    return `unknown compression ${h.attributes & Attr.compressionMask}`;
  if (h.recordsCount <= 0 || h.lastOffsetDelta !== h.recordsCount - 1)
    return `records count ${h.recordsCount} does not match last offset delta ${h.lastOffsetDelta}`;
  return null;
}

/**
 * Splits a record set into batches. A trailing partial batch is an error here (producers send whole batches);
 * fetch responses, which may end in a partial batch, are not read with this.
 */
export function splitBatches(records: Buffer): { batch: Buffer; header: BatchHeader }[] {
  const out: { batch: Buffer; header: BatchHeader }[] = [];
  let pos = 0;
  while (pos < records.length) {
    if (records.length - pos < BATCH_HEADER_SIZE) throw new DecodeError('record set ends inside a batch header');
    const header = readBatchHeader(records, pos);
    if (header.size < BATCH_HEADER_SIZE || pos + header.size > records.length)
      throw new DecodeError(`record batch length ${header.size - BATCH_PREFIX} runs past the record set`);
    out.push({ batch: records.subarray(pos, pos + header.size), header });
    pos += header.size;
  }
  return out;
}

/** Decodes the records of one batch (decompressing if needed). */
export async function decodeRecords(batch: Buffer): Promise<KafkaRecord[]> {
  const h = readBatchHeader(batch);
  const compression = h.attributes & Attr.compressionMask;
  const body = batch.subarray(BATCH_HEADER_SIZE);
  const plain = compression === Compression.none ? body : await codecFor(compression).decompress(body);
  const r = new Reader(plain);
  const out: KafkaRecord[] = [];
  for (let i = 0; i < h.recordsCount; i++) {
    const length = r.varint();
    const end = r.pos + length;
    r.int8();
    const timestampDelta = r.varlong();
    const offsetDelta = r.varint();
    const key = varBytes(r);
    const value = varBytes(r);
    const headerCount = r.varint();
    const headers: RecordHeader[] = [];
    for (let j = 0; j < headerCount; j++) {
      const hk = varBytes(r);
      headers.push({ key: hk === null ? '' : hk.toString('utf8'), value: varBytes(r) });
    }
    if (r.pos !== end) throw new DecodeError(`record ${i} length ${length} does not match its fields`);
    out.push({
      offset: h.baseOffset + BigInt(offsetDelta),
      timestamp: h.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
  }
  return out;
}

function varBytes(r: Reader): Buffer | null {
  const length = r.varint();
  return length < 0 ? null : r.raw(length);
}

export interface BatchInput {
  baseOffset?: bigint;
  compression?: CompressionType;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  records: {
    key?: Buffer | string | null;
    value: Buffer | string | null;
    timestamp?: number;
    headers?: Record<string, string | Buffer>;
  }[];
}

function toBytes(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v) : v;
}

function writeVarBytes(w: Writer, v: Buffer | null): void {
  if (v === null) w.varint(-1);
  else w.varint(v.length).raw(v);
}

/** Encodes a record batch v2 (what a producer sends); used by tests and tools that speak the protocol directly. */
export async function encodeBatch(input: BatchInput): Promise<Buffer> {
  const now = Date.now();
  const timestamps = input.records.map((r) => r.timestamp ?? now);
  const baseTimestamp = timestamps.length ? Math.min(...timestamps) : now;
  const body = new Writer();
  input.records.forEach((record, i) => {
    const w = new Writer();
    w.int8(0)
      .varlong(timestamps[i] - baseTimestamp)
      .varint(i);
    writeVarBytes(w, toBytes(record.key));
    writeVarBytes(w, toBytes(record.value));
    const headers = Object.entries(record.headers ?? {});
    w.varint(headers.length);
    for (const [k, v] of headers) {
      writeVarBytes(w, Buffer.from(k));
      writeVarBytes(w, toBytes(v));
    }
    const bytes = w.toBuffer();
    body.varint(bytes.length).raw(bytes);
  });
  const compression = input.compression ?? Compression.none;
  const plain = body.toBuffer();
  const records = compression === Compression.none ? plain : await codecFor(compression).compress(plain);
  const batch = Buffer.alloc(BATCH_HEADER_SIZE + records.length);
  batch.writeBigInt64BE(input.baseOffset ?? 0n, 0);
  batch.writeInt32BE(batch.length - BATCH_PREFIX, 8);
  batch.writeInt32BE(0, 12);
  batch.writeInt8(2, MAGIC_AT);
  batch.writeInt16BE(compression, ATTRIBUTES_AT);
  batch.writeInt32BE(input.records.length - 1, 23);
  batch.writeBigInt64BE(BigInt(baseTimestamp), 27);
  batch.writeBigInt64BE(BigInt(timestamps.length ? Math.max(...timestamps) : now), 35);
  batch.writeBigInt64BE(input.producerId ?? -1n, 43);
  batch.writeInt16BE(input.producerEpoch ?? -1, 51);
  batch.writeInt32BE(input.baseSequence ?? -1, 53);
  batch.writeInt32BE(input.records.length, 57);
  records.copy(batch, BATCH_HEADER_SIZE);
  batch.writeUInt32BE(crc32c(batch, ATTRIBUTES_AT), CRC_AT);
  return batch;
}
