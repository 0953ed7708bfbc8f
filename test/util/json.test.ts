/**
 * parseJson and stringifyJson do their work with the native JSON.parse and JSON.stringify; they must give exactly what
 * lossless-json's parser and serializer give (the reference here), only faster.
 */
import fc from 'fast-check';
import { isSafeNumber, parse, stringify } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { parseJson, stringifyJson, toLong } from '../../shared/util/lossless-json.ts';

/** lossless-json's parser, integers beyond ±2^53 as bigint. */
function referenceParse(text: string): unknown {
  return parse(text, null, (n) => (/^-?\d+$/.test(n) && !isSafeNumber(n) ? BigInt(n) : Number(n)));
}

function referenceStringify(value: unknown): string {
  const text = stringify(value as never);
  if (text === undefined) throw new TypeError('value is not serializable to JSON');
  return text;
}

/** Strings that stress the scanner: quotes, backslashes, escapes, digit runs, a NUL escape. */
const trickyString = fc.oneof(
  fc.string(),
  fc.string({ unit: fc.constantFrom('"', '\\', '1', '9', '-', 'e', '.', 'u', '0', ' ', '\u0000', 'x') }),
  fc.bigInt().map((n) => `${n}${n}`),
);

const longs = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(2n ** 53n, -(2n ** 53n), 2n ** 53n - 1n, 6270371423468402233n, 10n ** 19n),
);

/** JSON data as the server sees it: numbers, 64-bit ids as bigint, nested objects and arrays. */
const jsonData = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    longs,
    trickyString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(trickyString, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** The result, or the error message, of `f`. */
function outcome(f: () => string): { text: string } | { error: string } {
  try {
    return { text: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('lossless JSON on the native parser and serializer', () => {
  it('serializes like lossless-json, byte for byte', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        expect(stringifyJson(value)).toBe(referenceStringify(value));
      }),
      { numRuns: 2000 },
    );
    // Values JSON has no spelling for, and objects that are not plain data.
    const odd = {
      u: undefined,
      f: () => 1,
      s: Symbol('s'),
      list: [undefined, () => 1, Symbol('t'), Number.NaN, -0, Infinity],
      date: new Date(0),
      boxed: new String('x'),
      custom: { toJSON: () => ({ n: 12345678901234567890n }) },
      nul: Object.assign(Object.create(null) as object, { a: 1 }),
    };
    expect(stringifyJson(odd)).toBe(referenceStringify(odd));
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true }),
        (v) => {
          expect(outcome(() => stringifyJson(v))).toStrictEqual(outcome(() => referenceStringify(v)));
        },
      ),
      { numRuns: 1000 },
    );
    expect(() => stringifyJson(undefined)).toThrow(/not serializable/);
  });

  it('indents like lossless-json (table metadata is written indented), and says what the compact text says', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        expect(stringifyJson(value, 2)).toBe(stringify(value as never, undefined, 2));
      }),
      { numRuns: 2000 },
    );
    // Beyond plain data the layout may differ where lossless-json leaves blank lines for skipped properties (JSON.stringify
    // does not); the content may not.
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true }),
        (v) => {
          const compact = outcome(() => stringifyJson(v));
          const indentedText = outcome(() => stringifyJson(v, 2));
          if ('error' in compact) expect(indentedText).toStrictEqual(compact);
          else
            expect(parseJson('text' in indentedText ? indentedText.text : '')).toStrictEqual(parseJson(compact.text));
        },
      ),
      { numRuns: 1000 },
    );
    // Keys and strings of the value's own that look like the marks bigints get on the way.
    const lookalikes = { '\u00001': 1n, s: '\u00002', list: ['\u00003', 4n] };
    expect(stringifyJson(lookalikes, 2)).toBe(stringify(lookalikes, undefined, 2));
    expect(stringifyJson({ id: -9223372036854775808n, n: [1, 2n ** 64n] }, 2)).toBe(
      '{\n  "id": -9223372036854775808,\n  "n": [\n    1,\n    18446744073709551616\n  ]\n}',
    );
  });

  it('parses like lossless-json, 64-bit integers as bigint', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        const text = stringifyJson(value);
        expect(parseJson(text)).toStrictEqual(referenceParse(text));
      }),
      { numRuns: 2000 },
    );
    const parsed = parseJson<{ id: bigint; small: number; big: number; neg: bigint; exp: number; s: string }>(
      '{"id":6270371423468402233,"small":9007199254740991,"big":1e19,"neg":-9007199254740993,"exp":1.5e1234567890123456,"s":"12345678901234567890"}',
    );
    expect(parsed).toStrictEqual({
      id: 6270371423468402233n,
      small: 9007199254740991,
      big: 1e19,
      neg: -9007199254740993n,
      exp: Infinity,
      s: '12345678901234567890',
    });
    // A string holding U+0000 (spelled as an escape) next to a long: still told apart.
    expect(parseJson('["\\u00000",12345678901234567890]')).toStrictEqual(['\u00000', 12345678901234567890n]);
    // `__proto__` stays an own property holding the long, as JSON.parse makes it, not the prototype.
    for (const text of ['{"__proto__":12345678901234567890}', '{"__proto__":{"a":12345678901234567890},"b":[1]}']) {
      const ours = parseJson<Record<string, unknown>>(text);
      expect(Object.getOwnPropertyNames(ours), text).toEqual(Object.getOwnPropertyNames(JSON.parse(text)));
      expect(Object.getPrototypeOf(ours)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(ours, '__proto__')?.value).toStrictEqual(
        referenceParse(text.replace('__proto__', 'p')) &&
          (referenceParse(text.replace('__proto__', 'p')) as { p: unknown }).p,
      );
    }
    // A key given twice keeps its last value, as JSON.parse and Nessie's Jackson do.
    expect(parseJson('{"a":12345678901234567890,"a":2}')).toStrictEqual({ a: 2 });
  });

  it('rejects malformed text with a SyntaxError, as lossless-json does', () => {
    for (const text of [
      '{"a":12345678901234567890',
      '{"a":012345678901234567890}',
      '[12345678901234567890,]',
      '{"a":"12345678901234567890}',
      'x12345678901234567890',
      '{"a":1234567890123456789012345678901234567890 1}',
    ]) {
      expect(() => referenceParse(text), text).toThrow(SyntaxError);
      expect(() => parseJson(text), text).toThrow(SyntaxError);
    }
  });
});

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
