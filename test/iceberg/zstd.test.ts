import { decompressZstd } from 'hyparquet-compressors';
import { beforeAll, describe, expect, it } from 'vitest';
import { zstdCompress, zstdDecompress, zstdReady } from '../../shared/iceberg/zstd.ts';

const text = (n: number) =>
  new TextEncoder().encode(Array.from({ length: n }, (_, i) => `event ${i} car CAR-${(i * 7919) % 50000}`).join('\n'));

describe('zstd page codec', () => {
  beforeAll(() => zstdReady());

  it('round-trips pages of any size, and fzstd (independent decoder) reads what it compresses', () => {
    for (const input of [new Uint8Array(), Uint8Array.of(7), text(10), text(50_000)]) {
      const compressed = zstdCompress(input);
      // Buffer.equals: vitest's deep equality walks a 1 MB array element by element for seconds
      expect(Buffer.from(zstdDecompress(compressed, input.byteLength)).equals(input)).toBe(true);
      expect(Buffer.from(decompressZstd(compressed, new Uint8Array(input.byteLength))).equals(input)).toBe(true);
    }
    expect(zstdCompress(text(50_000)).byteLength).toBeLessThan(text(50_000).byteLength / 3);
  });

  it('checks a frame against the page size instead of trusting its declared size', () => {
    const page = text(100);
    expect(() => zstdDecompress(zstdCompress(page), page.byteLength + 5)).toThrow(
      /declares 2\d+ bytes, its page header says/,
    );
  });

  it('throws a plain error on corrupt input', () => {
    const compressed = zstdCompress(text(1000));
    const corrupt = compressed.slice();
    corrupt.fill(0x5a, 12, 60);
    expect(() => zstdDecompress(corrupt, text(1000).byteLength)).toThrow();
    // a header claiming a huge size is not handed to the wasm allocator
    const huge = compressed.slice();
    huge[4] = (huge[4] & 0x3f) | 0xc0; // 8-byte content size field
    expect(() => zstdDecompress(huge, 1000)).toThrow();
    // the codec still works afterwards
    expect(zstdDecompress(zstdCompress(text(5)), text(5).byteLength)).toEqual(text(5));
  });
});
