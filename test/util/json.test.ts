import { describe, expect, it } from 'vitest';
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
