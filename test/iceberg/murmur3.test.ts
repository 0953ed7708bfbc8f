import { describe, expect, it } from 'vitest';
import { murmur3Hash, murmur3HashLong, murmur3HashString } from '../../shared/iceberg/murmur3.ts';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

// spec Appendix B, "32-bit Hash Requirements" test vectors
describe('murmur3_x86_32', () => {
  it('hashes ints and longs as 8-byte little-endian longs', () => {
    expect(murmur3HashLong(34)).toBe(2017239379);
    expect(murmur3HashLong(34n)).toBe(2017239379);
    expect(murmur3Hash(hex('2200000000000000'))).toBe(2017239379);
  });

  it('hashes dates, times and timestamps as longs', () => {
    expect(murmur3HashLong(17486)).toBe(-653330422); // date 2017-11-16
    expect(murmur3HashLong(81068000000n)).toBe(-662762989); // time 22:31:08
    expect(murmur3HashLong(1510871468000000n)).toBe(-2047944441); // timestamp 2017-11-16T22:31:08
  });

  it('hashes strings, uuids, fixed and binary as bytes', () => {
    expect(murmur3Hash(new TextEncoder().encode('iceberg'))).toBe(1210000089);
    expect(murmur3HashString('iceberg')).toBe(1210000089);
    expect(murmur3Hash(hex('f79c3e09677c4bbda4793f349cb785e7'))).toBe(1488055340);
    expect(murmur3Hash(hex('00010203'))).toBe(-188683207);
    expect(murmur3Hash(hex('058c'))).toBe(-500754589); // decimal 14.20: unscaled 1420, minimal bytes
  });

  it('covers every tail length, high bytes and negative longs', () => {
    // reference values from the Python `mmh3` package 5.3.0 (`mmh3.hash(data)`: murmur3_x86_32, seed 0, signed)
    const utf8 = (s: string) => new TextEncoder().encode(s);
    expect(murmur3Hash(new Uint8Array(0))).toBe(0);
    expect(murmur3Hash(utf8('a'))).toBe(1009084850);
    expect(murmur3Hash(utf8('ab'))).toBe(-1681926305);
    expect(murmur3Hash(utf8('abc'))).toBe(-1277324294);
    expect(murmur3Hash(utf8('abcde'))).toBe(-392455434);
    expect(murmur3Hash(utf8('The quick brown fox jumps over the lazy dog'))).toBe(776992547);
    expect(murmur3Hash(hex('fffe80'))).toBe(315318047);
    expect(murmur3HashString('größe €😀'.repeat(40))).toBe(murmur3Hash(utf8('größe €😀'.repeat(40)))); // longer than the scratch buffer
    expect(murmur3Hash(utf8('abcde'), 3)).toBe(-1277324294); // a prefix
    expect(murmur3HashLong(-1)).toBe(murmur3Hash(hex('ffffffffffffffff')));
    expect(murmur3HashLong(2 ** 40)).toBe(murmur3HashLong(2n ** 40n));
  });
});
