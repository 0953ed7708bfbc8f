import { describe, expect, it } from 'vitest';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { unionByName } from '../../shared/iceberg/evolution.ts';
import { assignFreshIds } from '../../shared/iceberg/evolution.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { batchStruct, Column, FILE_TYPE, inferBatch, stagingRow } from '../../shared/wap/staging-rows.ts';

const topic = parsePipelineConfig({
  topics: { t: { table: 't', fields: { timestamp: 'timestamptz', slot: 'int' }, binaryFields: ['image'] } },
}).topics.t;

function record(
  offset: number,
  payload: Record<string, unknown> | undefined,
  extra: Partial<TaggedRecord> = {},
): TaggedRecord {
  return {
    topic: 't',
    partition: 0,
    offset: String(offset),
    key: 'k',
    kafkaTime: '2026-11-22T10:00:00.000Z',
    ingestedAt: '2026-11-22T10:00:01.000Z',
    source: '/s#t',
    sourceId: `partition:0/offset:${offset}`,
    table: 't',
    status: 'ok',
    headers: {},
    ...(payload ? { payload } : {}),
    ...extra,
  };
}

function schemaFor(records: TaggedRecord[]): Schema {
  return { ...assignFreshIds(batchStruct(records, topic), { value: 0 }), schemaId: 0 };
}

describe('rows', () => {
  it('infers new payload columns and keeps declared types first', () => {
    const struct = batchStruct(
      [
        record(1, {
          timestamp: '2026-11-22T09:00:00Z',
          car: 'A',
          speed: 1.5,
          n: 3,
          tags: ['a'],
          pos: { x: 1, y: 2.5 },
        }),
      ],
      topic,
    );
    const types = Object.fromEntries(struct.fields.map((f) => [f.name, f.type]));
    expect(types.timestamp).toBe('timestamptz');
    expect(types.slot).toBe('int');
    expect(types.image).toEqual(FILE_TYPE);
    expect(types.car).toBe('string');
    expect(types.speed).toBe('double');
    expect(types.n).toBe('long');
    expect(types.tags).toMatchObject({ type: 'list', element: 'string' });
    expect(types.pos).toMatchObject({
      type: 'struct',
      fields: [
        { name: 'x', type: 'long' },
        { name: 'y', type: 'double' },
      ],
    });
    expect(struct.fields[0].name).toBe(Column.ingestedAt);
  });

  it('converts values to the table types and reports what does not fit', () => {
    const records = [
      record(1, { timestamp: '2026-11-22T09:00:00.123456Z', slot: 7, car: 'A' }),
      record(2, { timestamp: 'yesterday', slot: 'x', car: 'B' }),
    ];
    const schema = schemaFor(records);
    const good = stagingRow(records[0], schema, 'b1');
    expect(good).toMatchObject({
      timestamp: 1795338000123456n,
      slot: 7,
      car: 'A',
      [Column.offset]: 1n,
      [Column.batchId]: 'b1',
      [Column.errors]: null,
    });
    // every staging row keeps its record's bytes (here the payload: the test records carry no `raw`), for the audit
    expect(JSON.parse(new TextDecoder().decode(good[Column.raw] as Uint8Array))).toEqual(records[0].payload);
    const bad = stagingRow(records[1], schema, 'b1');
    expect(bad.timestamp).toBeNull();
    expect(bad.slot).toBeNull();
    expect(bad[Column.errors]).toEqual([
      "field 'timestamp': expected timestamptz, got string 'yesterday'",
      "field 'slot': expected int, got string 'x'",
    ]);
    expect(new TextDecoder().decode(bad[Column.raw] as Uint8Array)).toContain('"slot":"x"');
  });

  it('keeps malformed records with their raw bytes', () => {
    const raw = Buffer.from('{not json').toString('base64');
    const row = stagingRow(
      record(3, undefined, { status: 'malformed', error: 'value is not valid JSON', raw }),
      schemaFor([]),
      'b1',
    );
    expect(row[Column.status]).toBe('malformed');
    expect(row[Column.errors]).toEqual(['malformed: value is not valid JSON']);
    expect(Buffer.from(row[Column.raw] as Uint8Array).toString()).toBe('{not json');
  });

  it('a field changing to an incompatible type is reported by the schema union, not applied', () => {
    const base = schemaFor([record(1, { count: 5 })]);
    const incoming = batchStruct([record(2, { count: 'many', extra: true })], topic);
    const union = unionByName(base, incoming, 100);
    expect(union.incompatible).toEqual([{ path: 'count', existing: 'long', incoming: 'string' }]);
    expect(union.changes).toEqual(['add extra boolean']);
    expect(union.schema.fields.find((f) => f.name === 'count')?.type).toBe('long');
    expect(stagingRow(record(2, { count: 'many' }), union.schema, 'b2')[Column.errors]).toEqual([
      "field 'count': expected long, got string 'many'",
    ]);
  });

  it('admits a record with all its fields or none: new columns per batch, depth, names and Parquet name clashes', () => {
    const limits = { ...parsePipelineConfig({}).limits, maxNewColumnsPerBatch: 4, maxDepth: 4 };
    const records = [
      record(1, { a: 1, b: { c: 'x', d: [{ e: true }] } }), // a, b, b.c, b.d, b.d[].e: 5 new columns, over 4
      record(2, { a: 1, b: { c: 'x' } }), // 3
      record(3, { b: { f: 2 } }), // b.f: the 4th
      record(4, { g: 1 }), // a 5th: over
      record(5, { a: 2, b: { c: 'y', f: 3 } }), // nothing new
      record(6, { deep: { x: { y: { z: { w: 1 } } } } }), // the record is level 1: the object under z is level 5
      record(7, { 'a b': 1, a_x20b: 2 }),
    ];
    const { struct, rejected } = inferBatch(records, topic, { limits });
    expect(struct.fields.filter((f) => !f.name.startsWith('_')).map((f) => f.name)).toEqual([
      'timestamp',
      'slot',
      'image',
      'a',
      'b',
    ]);
    expect(struct.fields.find((f) => f.name === 'b')?.type).toMatchObject({ fields: [{ name: 'c' }, { name: 'f' }] });
    expect([...rejected].map(([r, why]) => [r.offset, why])).toEqual([
      [
        '1',
        "limit: the record brings 5 new columns ('a', 'b', 'b.c', 'b.d', 'b.d[].e'); this batch already added 0 of limits.maxNewColumnsPerBatch (4)",
      ],
      [
        '4',
        "limit: the record brings 1 new column ('g'); this batch already added 4 of limits.maxNewColumnsPerBatch (4)",
      ],
      ['6', "limit: nesting deeper than limits.maxDepth (4) at 'deep.x.y.z'"],
      ['7', "limit: field 'a_x20b' cannot be stored next to 'a b' (the same name in Parquet)"],
    ]);
    // a rejected record's row has its reason and no payload values
    const schema = { ...assignFreshIds(struct, { value: 0 }), schemaId: 0 };
    const row = stagingRow(records[0], schema, 'b', [rejected.get(records[0])!]);
    expect([row.a, row[Column.errors]]).toEqual([null, [rejected.get(records[0])]]);
  });

  it('columns of the table the batch lands in are not new, and new names must not clash with them', () => {
    const base = batchStruct([record(1, { a: 1, 'x y': 'q' })], topic);
    const { rejected } = inferBatch([record(2, { a: 5, x_x20y: 1 }), record(3, { a: 6 })], topic, {
      base,
      limits: { ...parsePipelineConfig({}).limits, maxNewColumnsPerBatch: 0 },
    });
    expect([...rejected.values()]).toEqual([
      "limit: field 'x_x20y' cannot be stored next to 'x y' (the same name in Parquet)",
    ]);
  });

  it('objects without typed fields are no evidence; lists of structs merge their fields', () => {
    const struct = batchStruct([record(1, { empty: {}, nulls: { a: null }, parts: [{ a: 1 }, { b: 'x' }] })], topic);
    const names = struct.fields.map((f) => f.name);
    expect(names).not.toContain('empty');
    expect(names).not.toContain('nulls');
    expect(struct.fields.find((f) => f.name === 'parts')?.type).toMatchObject({
      type: 'list',
      element: {
        fields: [
          { name: 'a', type: 'long' },
          { name: 'b', type: 'string' },
        ],
      },
    });
  });

  it('reads payload fields as own properties: object internals are plain columns', () => {
    const payload = JSON.parse('{"constructor":"c","__proto__":{"x":1},"toString":2}') as Record<string, unknown>;
    const schema = schemaFor([record(1, payload)]);
    const withThem = stagingRow(record(1, payload), schema, 'b');
    const without = stagingRow(record(2, { car: 'A' }), schema, 'b');
    expect([
      withThem.constructor,
      withThem.toString,
      Object.getOwnPropertyDescriptor(withThem, '__proto__')?.value,
    ]).toEqual(['c', 2n, { x: 1n }]);
    expect([without.constructor, without.toString, without.__proto__, without[Column.errors]]).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });
});
