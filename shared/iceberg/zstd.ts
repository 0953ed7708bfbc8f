/**
 * ZSTD for Parquet pages: @bokuweb/zstd-wasm compresses (level 3 unless the table's
 * `write.parquet.compression-level` says otherwise) and decompresses ~6× faster than hyparquet-compressors' pure-JS fzstd.
 * The wasm decoder trusts the frame's declared content size for its allocation, so a frame is handed to it only when
 * that size equals the page's uncompressed size from the Parquet page header; a different declared size is an error
 * (a corrupt page, or several frames in one page, which writers do not produce), and frames that declare no size go to
 * fzstd, which decodes into a buffer of the page's size.
 */
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import { decompressZstd } from 'hyparquet-compressors';

/** zstd's default level, and what Java uses when `write.parquet.compression-level` is unset. */
export const DEFAULT_ZSTD_LEVEL = 3;
const MAGIC = 0xfd2fb528;

let ready: Promise<void> | undefined;

/** Loads the wasm module once; call before using the codec functions. */
export function zstdReady(): Promise<void> {
  ready ??= init();
  return ready;
}

export function zstdCompress(input: Uint8Array, level = DEFAULT_ZSTD_LEVEL): Uint8Array {
  return compress(input, level);
}

export function zstdDecompress(input: Uint8Array, outputLength: number): Uint8Array {
  const declared = frameContentSize(input);
  if (declared === outputLength) return decompress(input, { defaultHeapSize: outputLength });
  if (declared !== undefined)
    throw new Error(`zstd frame declares ${declared} bytes, its page header says ${outputLength}`);
  return decompressZstd(input, new Uint8Array(outputLength));
}

/** The content size a zstd frame header declares, or undefined (not a frame, or no size). RFC 8878 §3.1.1.1. */
function frameContentSize(input: Uint8Array): number | undefined {
  if (input.byteLength < 6) return undefined;
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  const descriptor = input[4];
  const singleSegment = (descriptor >> 5) & 1;
  const sizeFlag = descriptor >> 6;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3];
  const offset = 5 + (singleSegment ? 0 : 1) + dictionaryBytes;
  const sizeBytes = [singleSegment, 2, 4, 8][sizeFlag];
  if (sizeBytes === 0 || offset + sizeBytes > input.byteLength) return undefined;
  switch (sizeBytes) {
    case 1:
      return input[offset];
    case 2:
      return view.getUint16(offset, true) + 256;
    case 4:
      return view.getUint32(offset, true);
    default:
      return Number(view.getBigUint64(offset, true));
  }
}
