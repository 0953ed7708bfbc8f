/**
 * The embedded server's fast JSON (local/nessie/json.ts) must give exactly what the shared lossless parser and
 * serializer give: it is only allowed to be faster.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonText, toJson } from '../../local/nessie/json.ts';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';

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

describe('local/nessie JSON', () => {
  it('serializes like stringifyJson, byte for byte', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        expect(toJson(value)).toBe(stringifyJson(value));
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
    expect(toJson(odd)).toBe(stringifyJson(odd));
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true }),
        (v) => {
          expect(outcome(() => toJson(v))).toStrictEqual(outcome(() => stringifyJson(v)));
        },
      ),
      { numRuns: 1000 },
    );
    expect(() => toJson(undefined)).toThrow(/not serializable/);
  });

  it('parses like parseJson, 64-bit integers as bigint', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        const text = stringifyJson(value);
        expect(parseJsonText(text)).toStrictEqual(parseJson(text));
      }),
      { numRuns: 2000 },
    );
    const parsed = parseJsonText<{ id: bigint; small: number; big: number; neg: bigint; exp: number; s: string }>(
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
    expect(parseJsonText('["\\u00000",12345678901234567890]')).toStrictEqual(['\u00000', 12345678901234567890n]);
    // `__proto__` stays an own property holding the long, as parseJson (and JSON.parse) make it, not the prototype.
    for (const text of ['{"__proto__":12345678901234567890}', '{"__proto__":{"a":12345678901234567890},"b":[1]}']) {
      const ours = parseJsonText<Record<string, unknown>>(text);
      expect(Object.getOwnPropertyNames(ours), text).toEqual(Object.getOwnPropertyNames(parseJson(text)));
      expect(Object.getPrototypeOf(ours)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(ours, '__proto__')?.value).toStrictEqual(
        Object.getOwnPropertyDescriptor(parseJson(text), '__proto__')?.value,
      );
    }
  });

  it('rejects malformed text with the same error as parseJson', () => {
    for (const text of [
      '{"a":12345678901234567890',
      '{"a":012345678901234567890}',
      '[12345678901234567890,]',
      '{"a":"12345678901234567890}',
      'x12345678901234567890',
      '{"a":1234567890123456789012345678901234567890 1}',
    ]) {
      let expected: unknown;
      try {
        parseJson(text);
      } catch (err) {
        expected = err;
      }
      expect(expected, text).toBeInstanceOf(SyntaxError);
      expect(() => parseJsonText(text), text).toThrow((expected as Error).message);
    }
  });
});
