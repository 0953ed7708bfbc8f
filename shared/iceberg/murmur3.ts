/**
 * Murmur3 x86 32-bit hash with seed 0 — the hash Iceberg's bucket transform is defined on (spec Appendix B).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/**
 * The signed 32-bit murmur3_x86_32 hash of `bytes` (Java's `Hashing.murmur3_32_fixed().hashBytes(..).asInt()`), or of
 * its first `length` bytes.
 */
export function murmur3Hash(bytes: Uint8Array, length = bytes.byteLength): number {
  const blocks = length >>> 2;
  let h = 0;
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    h ^= mixK(bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest) {
    const tail = blocks * 4;
    let k = bytes[tail];
    if (rest > 1) k ^= bytes[tail + 1] << 8;
    if (rest > 2) k ^= bytes[tail + 2] << 16;
    h ^= mixK(k);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

const longScratch = new DataView(new ArrayBuffer(8));

/** Hash of a value widened to an 8-byte little-endian long, as Iceberg hashes int, long, date, time and timestamps. */
export function murmur3HashLong(value: number | bigint): number {
  if (typeof value === 'bigint' || (value | 0) !== value) {
    longScratch.setBigInt64(0, BigInt(value), true);
  } else {
    longScratch.setInt32(0, value, true);
    longScratch.setInt32(4, value < 0 ? -1 : 0, true);
  }
  return murmur3Hash(new Uint8Array(longScratch.buffer));
}

let utf8Scratch = Buffer.alloc(256);

/** Hash of a string's UTF-8 bytes (Buffer#write into a reused buffer: several times faster than TextEncoder). */
export function murmur3HashString(text: string): number {
  const length = Buffer.byteLength(text, 'utf8');
  if (length > utf8Scratch.length) utf8Scratch = Buffer.alloc(Math.max(length, 2 * utf8Scratch.length));
  utf8Scratch.write(text, 0, 'utf8');
  return murmur3Hash(utf8Scratch, length);
}
