import { describe, expect, it } from 'vitest';
import { stringify } from 'lossless-json';
import { parseJson, stringifyJson, toLong } from '../../shared/util/lossless-json.ts';

describe('lossless JSON', () => {
  it('keeps integers beyond 2^53 exact and everything else as JSON.parse does', () => {
    const text =
      '{"id":8656952484400131532,"small":9007199254740991,"neg":-9223372036854775808,"f":1.5,"e":1e+30,"s":"x","a":[1,null,true]}';
    expect(parseJson(text)).toEqual({
      id: 8656952484400131532n,
      small: 9007199254740991,
      neg: -9223372036854775808n,
      f: 1.5,
      e: 1e30,
      s: 'x',
      a: [1, null, true],
    });
    expect(stringifyJson(parseJson(text))).toBe(text);
  });

  it('takes the fast path only when no number could lose precision, with identical results', () => {
    const plain = '{"car":"B-12","slot":17,"x":52.5205,"ok":false,"nested":{"n":[0,-3.25e-7]}}';
    expect(parseJson(plain)).toEqual(JSON.parse(plain));
    // a long digit run inside a string forces the lossless path, which must agree
    const digits = '{"plate":"1234567890123456","n":3}';
    expect(parseJson(digits)).toEqual({ plate: '1234567890123456', n: 3 });
    expect(parseJson(Buffer.from('{"offset":18446744073709551615}'))).toEqual({ offset: 18446744073709551615n });
  });

  it('writes what the lossless serializer writes, whether or not the value takes the JSON.stringify fast path', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    const withProto = JSON.parse('{"__proto__":{"x":1},"a":2}') as unknown;
    const values: unknown[] = [
      { image: 'A'.repeat(10_000), n: 1.5, neg: -0, nan: NaN, t: true, nil: null, skip: undefined, f: () => 1 },
      [1, undefined, 'x', [null, { deep: [1e21, 5e-7] }]],
      { at: new Date(Date.UTC(2026, 11, 3)), bad: new Date(NaN), text: 'quote " backslash \\ \u0001 é 😀' },
      bare,
      withProto,
      { offset: 18446744073709551615n, nested: { id: -9223372036854775808n } },
      [{ ok: 1 }, { late: 2n ** 63n }],
      { buffer: Buffer.from([1, 2]), custom: { toJSON: () => ({ replaced: 1n }) } },
      'plain',
      42,
    ];
    for (const value of values) expect(stringifyJson(value)).toBe(stringify(value as never));
    expect(stringifyJson({ offset: 18446744073709551615n })).toBe('{"offset":18446744073709551615}');
    expect(stringifyJson({ a: [1, { b: 2 }] }, 2)).toBe(stringify({ a: [1, { b: 2 }] }, undefined, 2));
    expect(() => stringifyJson(undefined)).toThrow(TypeError);
  });

  it('rejects malformed input on both paths', () => {
    expect(() => parseJson('{"a":')).toThrow(SyntaxError);
    expect(() => parseJson('{"a":12345678901234567,')).toThrow();
  });

  it('reads 64-bit values from any JSON form', () => {
    expect(toLong(5)).toBe(5n);
    expect(toLong('-7')).toBe(-7n);
    expect(toLong(1n << 62n)).toBe(1n << 62n);
    expect(() => toLong(1.5, 'snapshot-id')).toThrow(/snapshot-id is not a 64-bit integer/);
  });
});
