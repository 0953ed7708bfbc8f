/**
 * Property: whatever bytes a topic carries — arbitrary JSON of any depth and width, field names that are object
 * internals, empty, control characters or lone surrogates, numbers huge, tiny, -0 and 1e400 written as raw text,
 * duplicate keys, NaN, BOMs, truncations, binary garbage — every record lands on `main` exactly once through the
 * real tagger → writer → auditor → publisher, trusted or untrusted; no handler fails; an untrusted row holds exactly
 * the record's bytes, key and headers; a trusted row holds the record's values.
 *
 * Fixed seed and a bounded number of runs for CI (each run is one topic, so one set of tables, through the whole
 * chain); `FLOE_FUZZ_SEED` and `FLOE_FUZZ_RUNS` override them for a longer search.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { ownValue } from '../../shared/util/bare-object.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { chainOf, type KafkaRecord } from './chain-runner.ts';

const SEED = Number(process.env.FLOE_FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.FLOE_FUZZ_RUNS ?? 50);

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    FLOE_BATCH_LINGER_MS: '20',
    FLOE_BATCH_MAX_ROWS: '100000',
    FLOE_BATCH_MAX_BYTES: '512MiB',
  });
});
afterAll(() => stack?.stop());

// ---- arbitrary record values, as the text (or bytes) a producer could send ----

const INTERNAL_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'toJSON',
  'isPrototypeOf',
  '__defineGetter__',
];

const name = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...INTERNAL_NAMES) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'a',
        'b',
        'id',
        'a.b',
        'x y',
        'x_x20y',
        '_topic',
        '_raw',
        '',
        ' ',
        '\u0007',
        '\u0085',
        'é',
        '日本',
        '🦆',
      ),
    },
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
  )
  .map((n) => JSON.stringify(n));

const numberLiteral = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1e-400',
    '-0',
    '0.0',
    '-0.0e5',
    '9007199254740993',
    '1e17',
    '4.9e-324',
    '1.7976931348623157e308',
    `1${'0'.repeat(400)}`,
    '0.1000000000000000055511151231257827',
    '123456789012345678901234567890',
    '-9223372036854775808',
    '9223372036854775808',
  ),
);

const stringLiteral = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }).map((s) => JSON.stringify(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '"\\ud800"',
      '"a\\udc00"',
      '"\\u0000"',
      '"\\"\\\\\\/"',
      '"\\ud83e\\udd86"',
      '"2026-11-22T09:00:00Z"',
    ),
  },
);

const { value: jsonValue } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('scalar'), tie('array'), tie('object')),
  scalar: fc.oneof(fc.constantFrom('null', 'true', 'false'), numberLiteral, stringLiteral),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${(items as string[]).join(',')}]`),
  object: fc
    .array(fc.tuple(name, tie('value')), { maxLength: 5 })
    .map((entries) => `{${(entries as [string, string][]).map(([k, v]) => `${k}:${v}`).join(', ')}}`),
}));

const objectText = fc
  .array(fc.tuple(name, jsonValue as fc.Arbitrary<string>), { maxLength: 8 })
  .map((entries) => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`);

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A record value: mostly objects, then the hostile shapes a producer can send. */
const recordValue: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 12, arbitrary: objectText.map((t) => Buffer.from(t)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 60, max: 3000 }), fc.boolean(), objectText)
      .map(([depth, arrays, inner]) =>
        Buffer.from(
          arrays
            ? `{"d":${'['.repeat(depth)}${inner}${']'.repeat(depth)}}`
            : `${'{"d":'.repeat(depth)}${inner}${'}'.repeat(depth)}`,
        ),
      ),
  },
  { weight: 1, arbitrary: objectText.map((t) => Buffer.concat([BOM, Buffer.from(t)])) },
  { weight: 1, arbitrary: (jsonValue as fc.Arbitrary<string>).map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(objectText, fc.constantFrom('NaN', 'Infinity', '-Infinity', 'undefined', "'x'"))
      .map(([t, bad]) => Buffer.from(`{"bad":${bad}${t.length > 2 ? `,${t.slice(1)}` : '}'}`)),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(objectText, fc.nat()).map(([t, cut]) => Buffer.from(t.slice(0, t.length ? cut % t.length : 0))),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 900, max: 1200 })
      .map((n) => Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i]))))),
  },
);

/** Keys and header values: ASCII, any Unicode, or a lone surrogate (which only structured mode can carry). */
const attributeText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', 'k\udc00', '%41', '🦆') },
);
const kafkaRecord = fc
  .record({
    value: recordValue,
    key: fc.option(attributeText, { nil: undefined }),
    headers: fc.dictionary(fc.constantFrom('origin', 'trace', 'v'), attributeText, { maxKeys: 2 }),
    structured: fc.boolean(),
  })
  .map((r) => ({
    ...r,
    structured: r.structured || ![r.key ?? '', ...Object.values(r.headers)].every((t) => /^[\x20-\x7e]*$/.test(t)),
  }));

const wellFormed = (text: string) => (text as unknown as { toWellFormed(): string }).toWellFormed();
const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

// ---- what a trusted row must hold ----

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Whether a JSON value carries any non-null scalar (otherwise no column needs to hold it). */
function hasEvidence(json: unknown): boolean {
  if (json === null || json === undefined) return false;
  if (Array.isArray(json)) return json.some(hasEvidence);
  if (typeof json === 'object' && !isLosslessNumber(json)) return Object.values(json as object).some(hasEvidence);
  return true;
}

/** Differences between a record's JSON (numbers as literals) and the value stored for it. */
function differences(json: unknown, stored: unknown, path: string, out: string[]): void {
  if (!hasEvidence(json)) {
    if (
      stored !== null &&
      stored !== undefined &&
      !(Array.isArray(stored) && Array.isArray(json)) &&
      !(typeof stored === 'object' && typeof json === 'object')
    )
      out.push(`${path}: ${String(json)} stored as ${String(stored)}`);
    return;
  }
  if (isLosslessNumber(json)) {
    const literal = json.value;
    const ok =
      typeof stored === 'bigint'
        ? /^-?\d+$/.test(literal)
          ? BigInt(literal) === stored
          : BigInt(Number(literal)) === stored
        : typeof stored === 'number' && Number(literal) === stored;
    if (!ok) out.push(`${path}: ${literal} stored as ${typeof stored} ${String(stored)}`);
    return;
  }
  if (typeof json !== 'object') {
    if (stored !== json) out.push(`${path}: ${JSON.stringify(json)} stored as ${typeof stored} ${String(stored)}`);
    return;
  }
  if (Array.isArray(json)) {
    if (!Array.isArray(stored) || stored.length !== json.length) {
      out.push(
        `${path}: an array of ${json.length} stored as ${Array.isArray(stored) ? `an array of ${stored.length}` : String(stored)}`,
      );
      return;
    }
    json.forEach((item, i) => differences(item, stored[i], `${path}[${i}]`, out));
    return;
  }
  if (typeof stored !== 'object' || stored === null) {
    out.push(`${path}: an object stored as ${String(stored)}`);
    return;
  }
  for (const key of Object.keys(json as object))
    differences(ownValue(json as object, key), ownValue(stored, key), `${path}.${key}`, out);
}

/** The JSON object a record value holds, with number literals kept (undefined when it is not one). */
function referenceJson(value: Uint8Array): Record<string, unknown> | undefined {
  try {
    const text = decoder.decode(value);
    const json = parseLossless(text);
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

describe(`arbitrary records through the chain (seed ${SEED}, ${RUNS} runs)`, () => {
  it(
    'every record lands on main exactly once; untrusted rows keep the exact bytes, trusted rows the values',
    async () => {
      let run = 0;
      // Two batches per topic, one after the other: the second meets the tables (and columns) the first created.
      await fc.assert(
        fc.asyncProperty(fc.array(kafkaRecord, { minLength: 1, maxLength: 16 }), fc.nat(), async (drawn, cut) => {
          const topic = `fuzz-${run++}`;
          const table = topic.replace('-', '_');
          const records: KafkaRecord[] = drawn.map((r, i) => ({ topic, partition: i % 2, offset: 100 + i, ...r }));
          // a well-formed record in every run, with a name the generator cannot draw
          records.push({
            topic,
            partition: 0,
            offset: 10,
            value: Buffer.from(JSON.stringify({ '¤good': run, '¤note': 'fine' })),
            key: 'good',
          });
          const split = cut % records.length;

          const chain = chainOf(stack.runtime);
          for (const batch of [records.slice(0, split), records.slice(split)].filter((b) => b.length)) {
            const result = await chain.run(batch);
            expect(result.failures).toEqual({ tagger: [], writer: [], auditor: [], publisher: [] });
            expect(result.outcomes).toHaveLength(result.written.length);
          }

          const { trusted, untrusted } = await stack.mainRows(table);
          const at = (r: { partition: number; offset: number | bigint }) => `${r.partition}:${r.offset}`;
          const rowAt = (r: Record<string, unknown>) => `${r[Column.partition]}:${r[Column.offset]}`;
          expect([...trusted, ...untrusted].map(rowAt).sort()).toEqual(records.map(at).sort());

          const sent = new Map(records.map((r) => [at(r), r]));
          for (const row of untrusted) {
            const record = sent.get(rowAt(row))!;
            expect(
              Buffer.from(row[Column.raw] as Uint8Array).equals(Buffer.from(record.value)),
              `_raw of ${rowAt(row)}`,
            ).toBe(true);
            expect(row[Column.key]).toBe(record.key === undefined ? null : wellFormed(record.key));
            const headers = Object.fromEntries(
              Object.entries(record.headers ?? {}).map(([n, v]) => [n, wellFormed(v)]),
            );
            expect(Object.fromEntries((row[Column.headers] as Map<string, string> | null) ?? [])).toEqual(headers);
            expect((row[Column.reasons] as string[]).length).toBeGreaterThan(0);
          }
          for (const row of trusted) {
            const record = sent.get(rowAt(row))!;
            expect(row[Column.key]).toBe(record.key ?? null);
            expect(
              [record.key ?? '', ...Object.values(record.headers ?? {})].every(isWellFormed),
              `trusted ${rowAt(row)}: key and headers are Unicode text`,
            ).toBe(true);
            const json = referenceJson(record.value);
            expect(json, `trusted ${rowAt(row)} is a JSON object`).toBeDefined();
            const found: string[] = [];
            for (const key of Object.keys(json!)) differences(ownValue(json!, key), ownValue(row, key), key, found);
            expect(found, `trusted ${rowAt(row)}: ${decoder.decode(record.value).slice(0, 300)}`).toEqual([]);
          }
          // the good record is trusted unless its whole batch failed the gate
          const good = untrusted.find((r) => rowAt(r) === '0:10');
          if (good) expect(good[Column.reasons]).toEqual([expect.stringMatching(/^batch: /)]);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    },
    Math.max(60_000, RUNS * 10_000),
  );
});
