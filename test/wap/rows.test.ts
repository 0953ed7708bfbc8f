import { describe, expect, it } from 'vitest';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { unionByName } from '../../shared/iceberg/evolution.ts';
import { assignFreshIds } from '../../shared/iceberg/evolution.ts';
import type { Schema } from '../../shared/iceberg/types.ts';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { batchStruct, Column, FILE_TYPE, stagingRow } from '../../shared/wap/staging-rows.ts';

const topic = parsePipelineConfig({
  topics: { t: { table: 't', fields: { timestamp: 'timestamptz', slot: 'int' }, binaryFields: ['image'] } },
}).topics.t;

function record(offset: number, payload: Record<string, unknown> | undefined, extra: Partial<TaggedRecord> = {}): TaggedRecord {
  return {
    topic: 't', partition: 0, offset: String(offset), key: 'k', kafkaTime: '2026-11-22T10:00:00.000Z', ingestedAt: '2026-11-22T10:00:01.000Z',
    source: '/s#t', sourceId: `partition:0/offset:${offset}`, table: 't', status: 'ok', headers: {}, ...(payload ? { payload } : {}), ...extra,
  };
}

function schemaFor(records: TaggedRecord[]): Schema {
  return { ...assignFreshIds(batchStruct(records, topic), { value: 0 }), schemaId: 0 };
}

describe('rows', () => {
  it('infers new payload columns and keeps declared types first', () => {
    const struct = batchStruct([record(1, { timestamp: '2026-11-22T09:00:00Z', car: 'A', speed: 1.5, n: 3, tags: ['a'], pos: { x: 1, y: 2.5 } })], topic);
    const types = Object.fromEntries(struct.fields.map((f) => [f.name, f.type]));
    expect(types.timestamp).toBe('timestamptz');
    expect(types.slot).toBe('int');
    expect(types.image).toEqual(FILE_TYPE);
    expect(types.car).toBe('string');
    expect(types.speed).toBe('double');
    expect(types.n).toBe('long');
    expect(types.tags).toMatchObject({ type: 'list', element: 'string' });
    expect(types.pos).toMatchObject({ type: 'struct', fields: [{ name: 'x', type: 'long' }, { name: 'y', type: 'double' }] });
    expect(struct.fields[0].name).toBe(Column.ingestedAt);
  });

  it('converts values to the table types and reports what does not fit', () => {
    const records = [record(1, { timestamp: '2026-11-22T09:00:00.123456Z', slot: 7, car: 'A' }), record(2, { timestamp: 'yesterday', slot: 'x', car: 'B' })];
    const schema = schemaFor(records);
    const good = stagingRow(records[0], schema, 'b1');
    expect(good).toMatchObject({ timestamp: 1795338000123456n, slot: 7, car: 'A', [Column.offset]: 1n, [Column.batchId]: 'b1', [Column.errors]: null });
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
    const row = stagingRow(record(3, undefined, { status: 'malformed', error: 'value is not valid JSON', raw }), schemaFor([]), 'b1');
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
    expect(stagingRow(record(2, { count: 'many' }), union.schema, 'b2')[Column.errors]).toEqual(["field 'count': expected long, got string 'many'"]);
  });
});
