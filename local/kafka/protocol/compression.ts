/**
 * The four record-batch compressions (attributes bits 0–2): gzip (zlib), snappy (raw, or xerial-framed as the Java
 * client writes it), lz4 (frame format) and zstd. The broker stores batches as producers compressed them and only
 * decompresses to look inside one (timestamp lookups); clients in tests and the local stack use the same codecs.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { compress as snappyCompress, uncompress as snappyUncompress } from 'snappyjs';
import lz4 from 'lz4js';
import { init as zstdInit, compress as zstdCompressRaw } from '@bokuweb/zstd-wasm';
import { decompress as zstdDecompressRaw } from 'fzstd';

export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionType = (typeof Compression)[keyof typeof Compression];
export type CompressionName = keyof typeof Compression;

export interface Codec {
  compress(data: Buffer): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.unzip);

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_BLOCK = 32 * 1024;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Raw snappy, or the xerial stream (magic, version, compat, then length-prefixed raw blocks). */
function snappyDecompress(data: Buffer): Buffer {
  if (data.length < 16 || !data.subarray(0, 8).equals(XERIAL_MAGIC)) return asBuffer(snappyUncompress(data));
  const blocks: Buffer[] = [];
  for (let pos = 16; pos < data.length;) {
    if (pos + 4 > data.length) throw new Error('truncated xerial snappy block header');
    const length = data.readInt32BE(pos);
    pos += 4;
    if (length < 0 || pos + length > data.length) throw new Error('truncated xerial snappy block');
    blocks.push(asBuffer(snappyUncompress(data.subarray(pos, pos + length))));
    pos += length;
  }
  return Buffer.concat(blocks);
}

/** Writes the xerial framing, which every Kafka client (Java included) reads. */
function snappyCompressXerial(data: Buffer): Buffer {
  const header = Buffer.alloc(16);
  XERIAL_MAGIC.copy(header);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  const parts: Buffer[] = [header];
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK) {
    const block = asBuffer(snappyCompress(data.subarray(pos, pos + XERIAL_BLOCK)));
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

const LZ4_BLOCK = 4 * 1024 * 1024;
/** Frame header: magic, FLG (version 01, independent blocks), BD (4 MiB blocks), header checksum (xxh32(FLG BD) >> 8). */
const LZ4_HEADER = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x73]);

/**
 * An LZ4 frame of independent blocks. Apache Kafka refuses frames whose blocks may refer back to earlier ones ("Dependent
 * block stream is unsupported"), which is what lz4js declares; so each block is compressed on its own (an lz4js frame of
 * at most one block size holds exactly one block) and the blocks are framed here.
 */
function lz4Frame(data: Uint8Array): Buffer {
  const parts: Buffer[] = [LZ4_HEADER];
  for (let at = 0; at < data.length; at += LZ4_BLOCK) {
    const frame = asBuffer(lz4.compress(data.subarray(at, at + LZ4_BLOCK)));
    // Strip the 7-byte header and the 4-byte end mark: what is left is one block, its size prefix included.
    parts.push(frame.subarray(LZ4_HEADER.length, frame.length - 4));
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

let zstdReady: Promise<void> | undefined;

export const codecs: Record<Exclude<CompressionType, 0>, Codec> = {
  [Compression.gzip]: { compress: (d) => gzip(d), decompress: (d) => gunzip(d) },
  [Compression.snappy]: {
    compress: async (d) => snappyCompressXerial(d),
    decompress: async (d) => snappyDecompress(d),
  },
  [Compression.lz4]: { compress: async (d) => lz4Frame(d), decompress: async (d) => asBuffer(lz4.decompress(d)) },
  [Compression.zstd]: {
    async compress(d) {
      zstdReady ??= zstdInit();
      await zstdReady;
      return asBuffer(zstdCompressRaw(d, 3));
    },
    decompress: async (d) => asBuffer(zstdDecompressRaw(d)),
  },
};

export function codecFor(type: number): Codec {
  const codec = codecs[type as Exclude<CompressionType, 0>];
  if (!codec) throw new Error(`unknown compression type ${type}`);
  return codec;
}

/**
 * Codecs in the shape kafkajs expects (`CompressionCodecs[type] = () => codec`): register them with
 * `Object.assign(CompressionCodecs, kafkajsCodecs())` to let kafkajs produce and consume every compression.
 */
export function kafkajsCodecs(): Record<
  number,
  () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> }
> {
  const out: Record<
    number,
    () => { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> }
  > = {};
  for (const type of [Compression.snappy, Compression.lz4, Compression.zstd]) {
    const codec = codecs[type];
    out[type] = () => ({
      compress: (encoder) => codec.compress(encoder.buffer),
      decompress: (buffer) => codec.decompress(buffer),
    });
  }
  return out;
}
