import { describe, expect, it } from 'vitest';
import { toBinary } from '../../shared/iceberg/conversions.ts';
import {
  bind,
  evaluate,
  fileStats,
  literalFor,
  mightMatch,
  parseTimestampMicros,
} from '../../shared/iceberg/expressions.ts';
import { projectFilter } from '../../shared/iceberg/scan.ts';
import type { DataFile, PartitionSpec, Schema } from '../../shared/iceberg/types.ts';

const schema: Schema = {
  type: 'struct',
  schemaId: 0,
  fields: [
    { id: 1, name: 'id', required: true, type: 'string' },
    { id: 2, name: 'ts', required: false, type: 'timestamptz' },
    { id: 3, name: 'x', required: false, type: 'double' },
    { id: 4, name: 'amount', required: false, type: 'decimal(10, 2)' },
    { id: 5, name: 'n', required: false, type: 'long' },
  ],
};

describe('row filters', () => {
  it('converts literals to the column type', () => {
    expect(parseTimestampMicros('2026-11-22T10:00:00.123456Z')).toBe(1795341600123456n);
    expect(parseTimestampMicros('2026-11-22')).toBe(1795305600000000n);
    expect(parseTimestampMicros('2026-11-22T11:00:00+01:00')).toBe(1795341600000000n);
    expect(literalFor('date', '1970-01-02', 'd')).toBe(1);
    expect(literalFor('decimal(10, 2)', '12.5', 'a')).toBe(1250n);
    expect(literalFor('long', 9007199254740993n, 'n')).toBe(9007199254740993n);
    expect(() => literalFor('decimal(10, 2)', '1.005', 'a')).toThrow(/cannot compare column 'a'/);
    expect(() => bind({ op: 'eq', ref: 'nope', value: 1 }, schema)).toThrow(/unknown column 'nope'/);
  });

  it('evaluates rows exactly, `in` through a set (−0 and +0 differ, NaN equals NaN, nulls never match)', () => {
    const valueOf = (row: Record<number, unknown>) => (id: number) => row[id];
    const inList = bind({ op: 'in', ref: 'x', values: [-0, Number.NaN, 2] }, schema);
    expect(evaluate(inList, valueOf({ 3: -0 }))).toBe(true);
    expect(evaluate(inList, valueOf({ 3: 0 }))).toBe(false);
    expect(evaluate(inList, valueOf({ 3: Number.NaN }))).toBe(true);
    expect(evaluate(inList, valueOf({ 3: null }))).toBe(false);
    const range = bind(
      {
        op: 'and',
        args: [
          { op: 'gtEq', ref: 'ts', value: '2026-01-01' },
          { op: 'not', arg: { op: 'isNull', ref: 'amount' } },
        ],
      },
      schema,
    );
    expect(evaluate(range, valueOf({ 2: 1767225600000000n, 4: 100n }))).toBe(true);
    expect(evaluate(range, valueOf({ 2: 1767225599999999n, 4: 100n }))).toBe(false);
    const many = bind({ op: 'in', ref: 'id', values: Array.from({ length: 20_000 }, (_, i) => `e${i}`) }, schema);
    expect(evaluate(many, valueOf({ 1: 'e19999' }))).toBe(true);
    expect(evaluate(many, valueOf({ 1: 'e20000' }))).toBe(false);
  });

  it('prunes data files by their column metrics, keeping any file that might match', () => {
    const file = {
      valueCounts: new Map([
        [5, 10],
        [3, 10],
      ]),
      nullValueCounts: new Map([
        [5, 0],
        [3, 10],
      ]),
      lowerBounds: new Map([[5, toBinary('long', 100n)]]),
      upperBounds: new Map([[5, toBinary('long', 200n)]]),
    } as unknown as DataFile;
    const stats = fileStats(file);
    const might = (e: Parameters<typeof bind>[0]) => mightMatch(bind(e, schema), stats);
    expect(might({ op: 'eq', ref: 'n', value: 150 })).toBe(true);
    expect(might({ op: 'eq', ref: 'n', value: 201 })).toBe(false);
    expect(might({ op: 'lt', ref: 'n', value: 100 })).toBe(false);
    expect(might({ op: 'in', ref: 'n', values: [1, 2, 199] })).toBe(true);
    expect(might({ op: 'in', ref: 'n', values: [1, 2, 201] })).toBe(false);
    expect(might({ op: 'not', arg: { op: 'gtEq', ref: 'n', value: 100 } })).toBe(false);
    expect(might({ op: 'notNull', ref: 'x' })).toBe(false);
    expect(might({ op: 'isNull', ref: 'x' })).toBe(true);
    expect(might({ op: 'eq', ref: 'id', value: 'anything' })).toBe(true);
  });

  it("decodes a file's bounds of a column once, however many values an `in` holds", () => {
    let decoded = 0;
    const lowerBounds = new Map([[5, toBinary('long', 100n)]]);
    const get = lowerBounds.get.bind(lowerBounds);
    lowerBounds.get = (id: number) => {
      decoded++;
      return get(id);
    };
    const file = {
      valueCounts: new Map([[5, 10]]),
      nullValueCounts: new Map([[5, 0]]),
      lowerBounds,
      upperBounds: new Map([[5, toBinary('long', 200n)]]),
    } as unknown as DataFile;
    const stats = fileStats(file);
    const misses = Array.from({ length: 1_000 }, (_, i) => 1_000 + i);
    expect(mightMatch(bind({ op: 'in', ref: 'n', values: misses }, schema), stats)).toBe(false);
    expect(mightMatch(bind({ op: 'gt', ref: 'n', value: 150 }, schema), stats)).toBe(true);
    expect(decoded).toBe(1);
  });

  it('projects filters onto partition values through the transforms', () => {
    const spec: PartitionSpec = {
      specId: 0,
      fields: [
        { sourceId: 2, fieldId: 1000, name: 'ts_day', transform: 'day' },
        { sourceId: 1, fieldId: 1001, name: 'id_bucket', transform: 'bucket[8]' },
      ],
    };
    const projected = projectFilter(
      bind(
        {
          op: 'and',
          args: [
            { op: 'gtEq', ref: 'ts', value: '2026-11-22T10:00:00Z' },
            { op: 'eq', ref: 'id', value: 'iceberg' },
          ],
        },
        schema,
      ),
      spec,
      schema,
    );
    expect(projected).toMatchObject({
      op: 'and',
      args: [
        { op: 'and', args: [{ op: 'gtEq', ref: { id: 1000, type: 'date' }, value: 20779 }] },
        { op: 'and', args: [{ op: 'eq', ref: { id: 1001, type: 'int' } }] },
      ],
    });
    // a negation cannot be projected inclusively: everything is kept
    expect(projectFilter(bind({ op: 'not', arg: { op: 'eq', ref: 'id', value: 'x' } }, schema), spec, schema)).toEqual({
      op: 'true',
    });
  });
});
