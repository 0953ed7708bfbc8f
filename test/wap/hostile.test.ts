/**
 * One hostile record must never stop a topic: a batch mixing every hostile class with good records goes through the
 * real tagger, writer, auditor and publisher. No handler fails, every record lands on main exactly once, the good ones
 * as trusted, each hostile one in `_untrusted` with its reason and exactly its Kafka bytes (key and headers kept).
 * Fields named like object internals are columns like any other, end to end: written, audited, published, read
 * back by the Parquet reader and by `floe scan`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventJson } from '../../shared/events/cloudevent.ts';
import type { BatchPublished } from '../../shared/events/contract.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { command as scanCommand } from '../../cli/commands/scan.ts';
import { runFloe } from '../helpers/cli.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { chainOf, driven, kafkaEvent, type KafkaRecord } from './chain-runner.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    FLOE_BATCH_LINGER_MS: '300',
    FLOE_BATCH_MAX_ROWS: '100000',
    FLOE_BATCH_MAX_BYTES: '512MiB',
  });
});
afterAll(() => stack?.stop());

const TOPIC = 'parking-entry';
const INTERNALS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

function entry(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: `ev-${i}`,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    car_id: `B-${i}`,
    slot: `A-${String(i % 50).padStart(3, '0')}`,
    latitude: 52.5205,
    longitude: 13.405,
    ...extra,
  };
}

/** A good entry's JSON with `extra` spliced in as raw text before the closing brace. */
const spliced = (i: number, extra: string) => `${JSON.stringify(entry(i)).slice(0, -1)},${extra}}`;

interface Hostile {
  name: string;
  value: string | Uint8Array;
  /** Kafka key and headers instead of the usual ones, delivered in structured mode (which can carry any string). */
  key?: string;
  headers?: Record<string, string>;
  /** The reason the untrusted row must carry; undefined: the record is fine and must be trusted. */
  reason?: RegExp;
}

function hostileRecords(base: number): Hostile[] {
  const deepArray = `${'['.repeat(5000)}${']'.repeat(5000)}`;
  const deepObject = `${'{"d":'.repeat(5000)}1${'}'.repeat(5000)}`;
  const many = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`f${i}`, i]));
  const newColumns = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`col_${i}`, i]));
  let i = base;
  return [
    {
      name: 'deep array',
      value: spliced(i++, `"deep":${deepArray}`),
      reason: /^limit: nesting deeper than limits.maxDepth \(64\)/,
    },
    {
      name: 'deep object',
      value: spliced(i++, `"deep":${deepObject}`),
      reason: /^limit: nesting deeper than limits.maxDepth \(64\)/,
    },
    { name: 'deep but allowed', value: spliced(i++, `"nest":${'{"n":'.repeat(20)}"leaf"${'}'.repeat(20)}`) },
    {
      name: 'latitude 1e400',
      value: spliced(i++, '"gate_lat":1').replace('"latitude":52.5205', '"latitude":1e400'),
      reason: /^type: field 'latitude': number 1e400 is outside the range of a double$/,
    },
    {
      name: 'tiny 1e-400',
      value: spliced(i++, '"tiny":1e-400'),
      reason: /^type: field 'tiny': number 1e-400 is too small for a double/,
    },
    {
      name: 'huge integer',
      value: spliced(i++, `"big":${'9'.repeat(40)}`),
      reason: /^type: field 'big': bigint 9{39}… is outside the range of long|^type: field 'big': .*outside the range/,
    },
    {
      name: 'NaN',
      value: spliced(i++, '"n":NaN'),
      reason: /^malformed: value is not valid JSON: NaN is not a JSON number/,
    },
    {
      name: 'Infinity',
      value: spliced(i++, '"n":-Infinity'),
      reason: /^malformed: value is not valid JSON: Infinity is not a JSON number/,
    },
    {
      name: 'duplicate keys',
      value: spliced(i++, '"slot":"B-999"'),
      reason: /^malformed: value is not valid JSON: duplicate field 'slot'/,
    },
    {
      name: 'too large',
      value: spliced(i++, `"blob":"${'x'.repeat(1024 * 1024)}"`),
      reason: /^limit: the value has \d+ bytes, over limits.maxRecordBytes \(1048576\)/,
    },
    {
      name: 'long string',
      value: spliced(i++, `"text":"${'y'.repeat(300_000)}"`),
      reason: /^limit: field 'text': a string of 300000 characters, over limits.maxStringLength/,
    },
    {
      name: 'too many fields',
      value: JSON.stringify(entry(i++, many)),
      reason: /^limit: more than limits.maxFields \(1000\) fields/,
    },
    {
      name: 'long field name',
      value: spliced(i++, `"${'n'.repeat(300)}":1`),
      reason: /^limit: field name 'n{40}…' is 300 characters long/,
    },
    {
      name: 'control char name',
      value: spliced(i++, '"bell\\u0007":1'),
      reason: /^limit: field name "bell\\u0007" contains control characters/,
    },
    { name: 'empty name', value: spliced(i++, '"":1'), reason: /^limit: an empty field name/ },
    {
      name: 'lone surrogate value',
      value: spliced(i++, '"note":"a\\ud800b"'),
      reason: /^type: field 'note': the string contains a lone surrogate/,
    },
    { name: 'lone surrogate name', value: spliced(i++, '"\\udc00":1'), reason: /^limit: field name .* lone surrogate/ },
    {
      name: 'invalid UTF-8',
      value: Buffer.concat([
        Buffer.from(JSON.stringify(entry(i++)).slice(0, -1)),
        Buffer.from([0x2c, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      ]),
      reason: /^malformed: value is not valid UTF-8/,
    },
    {
      name: 'not an object',
      value: JSON.stringify([entry(i++)]),
      reason: /^malformed: value is JSON but not an object \(got an array\)/,
    },
    { name: 'empty value', value: (i++, ''), reason: /^malformed: value is not valid JSON/ },
    {
      name: 'truncated',
      value: JSON.stringify(entry(i++)).slice(0, 30),
      reason: /^malformed: value is not valid JSON/,
    },
    {
      name: 'BOM (stripped)',
      value: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(entry(i++)))]),
    },
    { name: 'empty object field', value: JSON.stringify(entry(i++, { nothing: {}, none: [] })) },
    { name: 'negative zero', value: spliced(i++, '"delta":-0') },
    { name: 'NUL in a string', value: spliced(i++, '"nul":"a\\u0000b"') },
    { name: 'integral double beyond 2^53', value: spliced(i++, '"count_big":1e17') },
    { name: 'list of differing structs', value: JSON.stringify(entry(i++, { parts: [{ a: 1 }, { b: 'x' }] })) },
    {
      name: 'mixed list',
      value: JSON.stringify(entry(i++, { mixed: [1, 'a'] })),
      reason: /^type: field 'mixed\[\]': expected long, got string 'a'$/,
    },
    {
      name: 'timestamp out of range',
      value: JSON.stringify(entry(i++, { timestamp: 1e300 })),
      reason: /^type: field 'timestamp': number 1e\+300 is outside the range of timestamptz$/,
    },
    {
      name: 'ingestion column name',
      value: JSON.stringify(entry(i++, { _topic: 'x' })),
      reason: /^type: field '_topic' collides with an ingestion column/,
    },
    {
      name: 'new columns over the budget',
      value: JSON.stringify(entry(i++, newColumns)),
      reason: /^limit: the record brings 150 new columns \('col_0', .*limits.maxNewColumnsPerBatch \(100\)/,
    },
    {
      name: 'Parquet name clash',
      value: JSON.stringify(entry(i++, { 'a b': 1, a_x20b: 2 })),
      reason: /^limit: field 'a_x20b' cannot be stored next to 'a b' \(the same name in Parquet\)/,
    },
    {
      name: 'bad image',
      value: JSON.stringify(entry(i++, { image: 'not base64!' })),
      reason: /^malformed: field 'image': not valid base64/,
    },
    {
      name: 'object internals',
      value: JSON.stringify(entry(i++, Object.fromEntries(INTERNALS.map((n, k) => [n, `v${k}`])))),
    },
    {
      name: 'key not Unicode',
      value: JSON.stringify(entry(i++)),
      key: 'car-\ud800',
      headers: { origin: 'fuzz', kind: 'x\udc00' },
      reason: /^malformed: the Kafka key is not Unicode text/,
    },
    {
      name: 'pair at the excerpt boundary',
      value: JSON.stringify(entry(i++, { latitude: `${'a'.repeat(39)}🦆tail` })),
      reason: /^type: field 'latitude': expected double, got string 'a{39}…'$/,
    },
    {
      name: 'internals nested',
      value: spliced(i++, '"inner":{"__proto__":{"constructor":"c","toString":1},"valueOf":true}'),
    },
  ];
}

/** Built once: the scan test compares with the bytes the first test sent. */
const HOSTILE = hostileRecords(10_000);

describe('hostile records', () => {
  it('a batch mixing every hostile class with good records: the good ones publish as trusted, each bad one is one untrusted row', async () => {
    const hostile = HOSTILE;
    const records: (KafkaRecord & { hostile?: Hostile })[] = [];
    // a good record before every hostile one: a record's failure would show on its neighbours
    hostile.forEach((h, k) => {
      records.push({
        topic: TOPIC,
        partition: 0,
        offset: 2 * k,
        value: Buffer.from(JSON.stringify(entry(2 * k))),
        key: `car-${2 * k}`,
      });
      records.push({
        topic: TOPIC,
        partition: 0,
        offset: 2 * k + 1,
        value: typeof h.value === 'string' ? Buffer.from(h.value) : h.value,
        key: h.key ?? `hostile-${2 * k + 1}`,
        headers: h.headers ?? { origin: 'fuzz', kind: h.name.replace(/\W+/g, '-') },
        structured: h.key !== undefined,
        hostile: h,
      });
    });
    for (let k = 0; k < 10; k++)
      records.push({
        topic: TOPIC,
        partition: 1,
        offset: k,
        value: Buffer.from(JSON.stringify(entry(20_000 + k))),
        key: 'late',
      });

    const result = await chainOf(stack.runtime).run(records);
    expect(result.failures).toEqual({ tagger: [], writer: [], auditor: [], publisher: [] });
    expect(result.tagged).toHaveLength(records.length);
    expect(result.outcomes.map((e) => e.attributes.type)).toEqual(result.written.map(() => 'dev.floe.batch.published'));

    const { trusted, untrusted } = await stack.mainRows('parking_entry');
    const at = (r: Record<string, unknown>) => `${r[Column.partition]}:${r[Column.offset]}`;
    const landed = [...trusted, ...untrusted].map(at).sort();
    expect(landed).toEqual(records.map((r) => `${r.partition}:${r.offset}`).sort());
    const byCoordinate = new Map(untrusted.map((r) => [at(r), r]));
    for (const record of records) {
      const row = byCoordinate.get(`${record.partition}:${record.offset}`);
      const expected = record.hostile?.reason;
      if (!expected) {
        // (rows are not handed to expect: loupe cannot print an object whose `constructor` field is null)
        expect(
          (row?.[Column.reasons] as string[] | undefined)?.join('; '),
          `${record.hostile?.name ?? 'good record'} at ${record.offset}`,
        ).toBeUndefined();
        continue;
      }
      expect(row !== undefined, record.hostile!.name).toBe(true);
      expect((row![Column.reasons] as string[])[0], record.hostile!.name).toMatch(expected);
      expect(
        Buffer.from(row![Column.raw] as Uint8Array).equals(Buffer.from(record.value)),
        `${record.hostile!.name}: _raw is the record's bytes`,
      ).toBe(true);
      expect(row![Column.key]).toBe(record.hostile!.key === undefined ? `hostile-${record.offset}` : 'car-\ufffd');
      expect(Object.fromEntries(row![Column.headers] as Map<string, string>)).toMatchObject({ origin: 'fuzz' });
    }
    expect(result.outcomes.reduce((sum, e) => sum + eventJson<BatchPublished>(e)!.trusted, 0)).toBe(
      records.filter((r) => !r.hostile?.reason).length,
    );
    // no batch is left behind on a branch
    expect((await stack.catalog.client.listReferences()).filter((r) => r.name.startsWith('wap/'))).toEqual([]);

    // the object internals are columns: the record that has them keeps its values, and rows without them read null
    const eventOf = (name: string) => `ev-${10_000 + hostile.findIndex((h) => h.name === name)}`;
    const internals = trusted.find((r) => r.event_id === eventOf('object internals'))!;
    expect(INTERNALS.map((n) => internals[n])).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    const plain = trusted.find((r) => r.event_id === 'ev-0')!;
    for (const name of INTERNALS) expect(plain[name], name).toBeNull();
    const inner = trusted.find((r) => r.event_id === eventOf('internals nested'))!.inner as Record<string, unknown>;
    expect(Object.keys(inner)).toEqual(['__proto__', 'valueOf']);
    expect(inner.valueOf).toBe(true);
    expect(Object.entries(Object.getOwnPropertyDescriptor(inner, '__proto__')?.value as object)).toEqual([
      ['constructor', 'c'],
      ['toString', 1n],
    ]);
    // values that are fine stay what they were
    expect(trusted.find((r) => r.event_id === eventOf('negative zero'))!.delta).toBe(0n);
    expect(trusted.find((r) => r.event_id === eventOf('NUL in a string'))!.nul).toBe('a\u0000b');
    // the tagger writes 1e17 on as the integer it is, so it is a long, exactly
    expect(trusted.find((r) => r.event_id === eventOf('integral double beyond 2^53'))!.count_big).toBe(
      100_000_000_000_000_000n,
    );
    expect(trusted.find((r) => r.event_id === eventOf('list of differing structs'))!.parts).toEqual([
      { a: 1n, b: null },
      { a: null, b: 'x' },
    ]);
    expect(trusted.find((r) => r.event_id === eventOf('deep but allowed'))).toBeDefined();
  });

  it('a batch after the hostile one: columns named like object internals poison nothing', async () => {
    const records: KafkaRecord[] = Array.from({ length: 5 }, (_, k) => ({
      topic: TOPIC,
      partition: 2,
      offset: k,
      value: Buffer.from(JSON.stringify(entry(30_000 + k))),
    }));
    const result = await chainOf(stack.runtime).run(records);
    expect(result.failures).toEqual({ tagger: [], writer: [], auditor: [], publisher: [] });
    const { trusted, untrusted } = await stack.mainRows('parking_entry');
    expect(untrusted.filter((r) => r[Column.partition] === 2)).toEqual([]);
    expect(trusted.filter((r) => r[Column.partition] === 2)).toHaveLength(5);
  });

  it('two concurrent batches give a new column different types: the later record is untrusted at publish, not a stalled batch', async () => {
    const tagger = driven(taggerFunction(stack.runtime));
    const writer = driven(writerFunction(stack.runtime));
    const auditor = driven(auditorFunction(stack.runtime));
    const publisher = driven(publisherFunction(stack.runtime));
    const record = (offset: number, gate: unknown, extra: Record<string, unknown> = {}): KafkaRecord => ({
      topic: TOPIC,
      partition: 3,
      offset,
      value: Buffer.from(JSON.stringify(entry(40_000 + offset, { gate_kind: gate, ...extra }))),
      key: `k${offset}`,
      headers: { origin: 'conflict' },
    });
    // each batch also has a record the audit untrusts (no car_id), so both tables meet the conflicting column
    const first = [record(0, 1), record(1, 2), record(4, 5, { car_id: null })];
    const second = [record(2, 'north'), record(3, null), record(5, 'south', { car_id: null })];
    // both batches are written (each on its branch, cut from the same main) before either is published
    const writtenFirst = await writer.deliver((await tagger.deliver(first.map(kafkaEvent))).out);
    const writtenSecond = await writer.deliver((await tagger.deliver(second.map(kafkaEvent))).out);
    const auditedFirst = await auditor.deliver(writtenFirst.out);
    const auditedSecond = await auditor.deliver(writtenSecond.out);
    const publishedFirst = await publisher.deliver(auditedFirst.out);
    const publishedSecond = await publisher.deliver(auditedSecond.out);
    expect([...publishedFirst.failures, ...publishedSecond.failures]).toEqual([]);
    const counts = [...publishedFirst.out, ...publishedSecond.out].map((e) => eventJson<BatchPublished>(e)!);
    expect(counts.map((p) => [p.method, p.trusted, p.untrusted])).toEqual([
      ['merge', 2, 1],
      ['rebase', 1, 2],
    ]);
    const { trusted, untrusted } = await stack.mainRows('parking_entry');
    const kept = trusted.filter((r) => r[Column.partition] === 3).map((r) => [r[Column.offset], r.gate_kind]);
    expect(kept.sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [0n, 1n],
      [1n, 2n],
      [3n, null],
    ]);
    const onMain = new Map(untrusted.filter((r) => r[Column.partition] === 3).map((r) => [r[Column.offset], r]));
    expect([...onMain.keys()].sort()).toEqual([2n, 4n, 5n]);
    const mismatch = (value: string) =>
      `type: field 'gate_kind' expects a 64-bit bigint, got string "${value}" (the table's column has another type)`;
    // the trusted record main's column cannot hold: untrusted, with its staging row's bytes and headers
    const moved = onMain.get(2n)!;
    expect(moved[Column.reasons]).toEqual([mismatch('north')]);
    expect(Buffer.from(moved[Column.raw] as Uint8Array).equals(Buffer.from(second[0].value))).toBe(true);
    expect(moved.gate_kind).toBeNull();
    expect(Object.fromEntries(moved[Column.headers] as Map<string, string>)).toEqual({ origin: 'conflict' });
    // an untrusted record loses only the field that does not fit, with the reason; its bytes keep the value
    const fitted = onMain.get(5n)!;
    expect(fitted[Column.reasons]).toEqual(['required: car_id is missing or null', mismatch('south')]);
    expect([fitted.gate_kind, fitted.event_id]).toEqual([null, 'ev-40005']);
    expect(Buffer.from(fitted[Column.raw] as Uint8Array).equals(Buffer.from(second[2].value))).toBe(true);
    expect(onMain.get(4n)!.gate_kind).toBe(5n);
  });

  it('the untrusted table typed a column first: a later untrusted record loses only that field, with the reason', async () => {
    const chain = chainOf(stack.runtime);
    const record = (offset: number, value: string): KafkaRecord => ({
      topic: TOPIC,
      partition: 4,
      offset,
      value: Buffer.from(value),
    });
    // batch 1: one record, untrusted (no car_id), with `shape` as an object: only the untrusted table gets the column
    const first = [record(0, JSON.stringify(entry(50_000, { car_id: null, shape: { a: 1 } })))];
    // batch 2: production gets `shape` as a long; the untrusted record of this batch has a long where the untrusted
    // table has an object
    const second = [
      record(1, JSON.stringify(entry(50_001, { shape: 7 }))),
      record(2, spliced(50_002, '"shape":8,"far":1e400')),
    ];
    for (const batch of [first, second])
      expect((await chain.run(batch)).failures).toEqual({ tagger: [], writer: [], auditor: [], publisher: [] });
    const { trusted, untrusted } = await stack.mainRows('parking_entry');
    expect(trusted.filter((r) => r[Column.partition] === 4).map((r) => [r[Column.offset], r.shape])).toEqual([
      [1n, 7n],
    ]);
    const rows = new Map(untrusted.filter((r) => r[Column.partition] === 4).map((r) => [r[Column.offset], r]));
    expect(rows.get(0n)!.shape).toEqual({ a: 1n });
    const fitted = rows.get(2n)!;
    expect(fitted.shape).toBeNull();
    expect(fitted[Column.reasons]).toEqual([
      "type: field 'far': number 1e400 is outside the range of a double",
      "type: field 'shape' expects an object, got bigint 8 (the table's column has another type)",
    ]);
    expect(Buffer.from(fitted[Column.raw] as Uint8Array).equals(Buffer.from(second[1].value))).toBe(true);
  });

  it('floe scan reads the internals-named columns and shows _raw as text, or base64 when it is not UTF-8', async () => {
    const env = { NESSIE_URI: stack.nessieUri, FLOE_WAREHOUSE: stack.env.warehouse, FLOE_HOME: stack.dir };
    const hostile = HOSTILE;
    const carOf = (name: string) => `B-${10_000 + hostile.findIndex((h) => h.name === name)}`;
    const scan = await runFloe(
      [
        'scan',
        'production.parking_entry',
        '--json',
        '--columns',
        `car_id,${INTERNALS.join(',')}`,
        '--where',
        `car_id = '${carOf('object internals')}'`,
      ],
      { env },
    );
    expect(scan.code, scan.stderr).toBe(0);
    // built from pairs: an object literal would take `__proto__: 'v1'` as a prototype, not a field
    const expected = Object.fromEntries([
      ['car_id', carOf('object internals')],
      ...INTERNALS.map((n, k) => [n, `v${k}`]),
    ]);
    expect(
      scan.stdout
        .trim()
        .split('\n')
        .map((line) => parseJson<Record<string, unknown>>(line)),
    ).toEqual([expected]);

    const offsetOf = (name: string) => 2 * hostile.findIndex((h) => h.name === name) + 1;
    const rawOf = async (extra: string[]) => {
      const result = await runFloe(
        [
          'scan',
          'production.parking_entry_untrusted',
          '--json',
          '--columns',
          '_kafka_partition,_offset,_raw',
          ...extra,
        ],
        { env },
      );
      expect(result.code, result.stderr).toBe(0);
      const rows = result.stdout
        .trim()
        .split('\n')
        .map((line) => parseJson<{ _kafka_partition: number; _offset: number; _raw: string }>(line));
      return new Map(rows.filter((r) => r._kafka_partition === 0).map((r) => [r._offset, r._raw]));
    };
    const shown = await rawOf([]);
    expect(shown.get(offsetOf('NaN'))).toBe(hostile.find((h) => h.name === 'NaN')!.value);
    const invalid = hostile.find((h) => h.name === 'invalid UTF-8')!.value as Uint8Array;
    expect(shown.get(offsetOf('invalid UTF-8'))).toBe(`base64:${Buffer.from(invalid).toString('base64')}`);
    const exact = await rawOf(['--raw', 'base64']);
    expect(exact.get(offsetOf('NaN'))).toBe(
      Buffer.from(hostile.find((h) => h.name === 'NaN')!.value as string).toString('base64'),
    );
    expect(scanCommand.options?.raw).toMatchObject({ type: 'string', default: 'text' });
  });
});
