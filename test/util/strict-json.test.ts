import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonRecordError, parseJsonStrict, type JsonLimits } from '../../shared/util/strict-json.ts';

const limits: JsonLimits = { maxDepth: 64, maxStringLength: 1000, maxFields: 100, maxFieldNameLength: 32 };

function refusal(text: string, options = {}): { kind: string; message: string } | undefined {
  try {
    parseJsonStrict(text, limits, options);
    return undefined;
  } catch (err) {
    if (!(err instanceof JsonRecordError)) throw err;
    return { kind: err.kind, message: err.message };
  }
}

describe('parseJsonStrict', () => {
  it('parses what JSON.parse parses, identically, for ordinary values', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'small' }), (text) => {
        const value = JSON.parse(text);
        // out-of-range and huge-integer cases are covered below; plain JSON without them must come back equal
        fc.pre(!/\d{16}|e[+-]?\d{3}/i.test(text));
        const wide = { ...limits, maxFields: 1e6, maxStringLength: 1e6, maxFieldNameLength: 1e6 };
        try {
          expect(parseJsonStrict(text, wide).value).toEqual(value);
        } catch (err) {
          // the generator's keys include empty names and control characters: those are refused, nothing else
          if (!(err instanceof JsonRecordError)) throw err;
          expect(err.message).toMatch(/^(an empty field name|field name .* contains control characters)/);
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('stops at the nesting limit without touching the stack limit', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(refusal(deep)).toMatchObject({ kind: 'limit', message: expect.stringContaining('limits.maxDepth (64)') });
    const object = '{"a":'.repeat(65) + '1' + '}'.repeat(65);
    expect(refusal(object)?.message).toMatch(/deeper than limits.maxDepth \(64\) at 'a\.a\.a/);
    expect(refusal('{"a":'.repeat(64) + '1' + '}'.repeat(64))).toBeUndefined();
  });

  it('refuses duplicate keys, NaN/Infinity literals and other malformed input with a reason', () => {
    expect(refusal('{"a":1,"b":{"c":1,"c":2}}')).toEqual({ kind: 'malformed', message: "duplicate field 'b.c'" });
    expect(refusal('{"a":NaN}')?.message).toMatch(/^NaN is not a JSON number/);
    expect(refusal('{"a":-Infinity}')?.message).toMatch(/^Infinity is not a JSON number/);
    expect(refusal('{"a":Infinity}')?.message).toMatch(/^Infinity is not a JSON number/);
    expect(refusal('{"a":1} x')?.message).toMatch(/unexpected data after the JSON value/);
    expect(refusal('{"a":"x\ny"}')?.message).toMatch(/control character/);
    expect(refusal('{"a":01}')?.kind).toBe('malformed');
  });

  it('bounds strings, fields and field names', () => {
    expect(refusal(JSON.stringify({ s: 'x'.repeat(1001) }))?.message).toBe(
      "field 's': a string of 1001 characters, over limits.maxStringLength (1000)",
    );
    expect(refusal(JSON.stringify({ s: 'x'.repeat(1001) }), { longStringFields: new Set(['s']) })).toBeUndefined();
    expect(refusal(JSON.stringify(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`f${i}`, i]))))).toEqual({
      kind: 'limit',
      message: 'more than limits.maxFields (100) fields',
    });
    expect(refusal('{"":1}')?.message).toBe('an empty field name');
    expect(refusal('{"a":{"b\\u0001":1}}')?.message).toBe('field name "b\\u0001" in \'a\' contains control characters');
    expect(refusal(JSON.stringify({ ['n'.repeat(33)]: 1 }))?.message).toMatch(
      /33 characters long, over limits.maxFieldNameLength \(32\)/,
    );
    expect(refusal('{"\\ud800":1}')?.message).toMatch(/lone surrogate/);
  });

  it('reports numbers no column type can hold instead of turning them into null or 0', () => {
    const { value, problems } = parseJsonStrict(
      '{"latitude":1e400,"tiny":-1e-400,"zero":0e-400,"big":1' + '0'.repeat(400) + ',"list":[1,2e999]}',
      limits,
    );
    expect(value).toEqual({ latitude: null, tiny: null, zero: 0, big: null, list: [1, null] });
    expect(problems).toEqual([
      "field 'latitude': number 1e400 is outside the range of a double",
      "field 'tiny': number -1e-400 is too small for a double (it would become 0)",
      "field 'big': number 1000000000000000000000000000000000000000… is outside the range of every numeric type",
      "field 'list[1]': number 2e999 is outside the range of a double",
    ]);
  });

  it('keeps integers beyond 2^53 exact and -0 as -0', () => {
    const { value } = parseJsonStrict('{"id":9007199254740993,"small":9007199254740991,"neg":-0}', limits);
    expect(value).toEqual({ id: 9007199254740993n, small: 9007199254740991, neg: -0 });
    expect(Object.is((value as { neg: number }).neg, -0)).toBe(true);
  });

  it('stores object internals as plain fields', () => {
    const { value } = parseJsonStrict(
      '{"__proto__":{"x":1},"constructor":2,"toString":"s","hasOwnProperty":null,"valueOf":[1]}',
      limits,
    );
    const object = value as Record<string, unknown>;
    expect(Object.getPrototypeOf(object)).toBe(Object.prototype);
    expect(Object.keys(object)).toEqual(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']);
    expect(Object.getOwnPropertyDescriptor(object, '__proto__')?.value).toEqual({ x: 1 });
    expect(object.constructor).toBe(2);
  });

  it('reports a lone surrogate in a string value per field', () => {
    const { value, problems } = parseJsonStrict('{"a":"ok","b":"\\udc00x"}', limits);
    expect(value).toEqual({ a: 'ok', b: null });
    expect(problems).toEqual(["field 'b': the string contains a lone surrogate escape (not Unicode text)"]);
  });
});
