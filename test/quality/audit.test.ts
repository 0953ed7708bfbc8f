import { describe, expect, it } from 'vitest';
import { auditRows, batchVerdict } from '../../shared/quality/rules.ts';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { Column } from '../../shared/wap/staging-rows.ts';

const rules = parsePipelineConfig({
  topics: {
    t: {
      table: 't',
      eventTime: 'ts',
      fields: { ts: 'timestamptz' },
      rules: {
        required: ['id', 'car'],
        ranges: { x: { min: 0, max: 100 } },
        enums: { kind: ['car', 'truck'] },
        unique: ['id'],
        maxFutureSkew: '5m',
        maxAge: '1d',
      },
    },
  },
}).topics.t.rules;

const now = 1_800_000_000_000_000n;
let offset = 0n;
const row = (values: Record<string, unknown>) => ({
  [Column.partition]: 0,
  [Column.offset]: offset++,
  [Column.status]: 'ok',
  [Column.errors]: null,
  id: 'e',
  car: 'A',
  x: 5,
  kind: 'car',
  ts: now,
  ...values,
});

describe('audit', () => {
  it('trusts good rows and gives every failing row all its reasons', () => {
    const result = auditRows({
      rules,
      eventTime: 'ts',
      nowMicros: now,
      rows: [
        row({ id: 'a' }),
        row({ id: 'b', car: null, x: 250 }),
        row({ id: 'c', kind: 'bike' }),
        row({ id: 'd', ts: now + 3_600_000_000n }),
        row({ id: 'e', ts: now - 2n * 86_400_000_000n }),
        row({ id: 'a' }),
        row({ id: 'f', [Column.errors]: ["field 'x': expected long, got string 'q'"] }),
        row({ id: 'g', [Column.status]: 'malformed', [Column.errors]: ['malformed: value is not valid JSON'] }),
      ],
    });
    expect(result.trusted.map((r) => r.id)).toEqual(['a']);
    expect(Object.fromEntries(result.untrusted.map((u) => [u.row.id, u.reasons]))).toEqual({
      b: ['required: car is missing or null', 'range: x=250 outside [0, 100]'],
      c: ["enum: kind='bike' not in ['car', 'truck']"],
      d: ['timestamp: ts is in the future'],
      e: ['timestamp: ts is older than the allowed age'],
      a: ["duplicate: id='a' already seen"],
      f: ["type: field 'x': expected long, got string 'q'"],
      g: ['malformed: value is not valid JSON'],
    });
    expect(result.reasonCounts).toEqual({
      required: 1,
      range: 1,
      enum: 1,
      timestamp: 2,
      duplicate: 1,
      type: 1,
      malformed: 1,
    });
  });

  it('treats values already published as duplicates', () => {
    const result = auditRows({
      rules,
      nowMicros: now,
      rows: [row({ id: 'old' }), row({ id: 'new' })],
      published: new Map([['id', new Set(['old'])]]),
    });
    expect(result.trusted.map((r) => r.id)).toEqual(['new']);
  });

  it('checks fields that are unique together', () => {
    const composite = parsePipelineConfig({ topics: { s: { table: 's', rules: { unique: [['sensor', 'at']] } } } })
      .topics.s.rules;
    const result = auditRows({
      rules: composite,
      nowMicros: now,
      rows: [row({ sensor: 'a', at: 1n }), row({ sensor: 'a', at: 2n }), row({ sensor: 'a', at: 1n })],
    });
    expect(result.trusted).toHaveLength(2);
    expect(result.untrusted[0].reasons).toEqual(["duplicate: sensor='a', at=1 already seen"]);
  });

  it('gates a batch on its untrusted ratio', () => {
    expect(batchVerdict(10, 5, 0.5)).toEqual({ verdict: 'passed' });
    expect(batchVerdict(10, 6, 0.5)).toMatchObject({
      verdict: 'failed',
      reason: expect.stringContaining('0.600 exceeds'),
    });
    expect(batchVerdict(0, 0, 0)).toEqual({ verdict: 'passed' });
    expect(batchVerdict(5, 5, 0.5, 20)).toEqual({ verdict: 'passed' });
  });

  it('reads rule fields as own properties: rules on fields named like object internals judge the data, not the prototype', () => {
    const internals = parsePipelineConfig({
      topics: {
        t: {
          table: 't',
          rules: { required: ['constructor', 'toString'], ranges: { valueOf: { min: 0 } }, unique: ['hasOwnProperty'] },
        },
      },
    }).topics.t.rules;
    const base = { [Column.partition]: 0, [Column.status]: 'ok', [Column.errors]: null };
    const result = auditRows({
      rules: internals,
      nowMicros: now,
      rows: [
        // a plain object without the fields: Object.prototype's must not count as values
        { ...base, [Column.offset]: 1n },
        { ...base, [Column.offset]: 2n, constructor: 'c', toString: 't', valueOf: -1, hasOwnProperty: 'k' },
        { ...base, [Column.offset]: 3n, constructor: 'c', toString: 't', valueOf: 1, hasOwnProperty: 'k' },
        // a struct value (an object without prototype) in a unique key
        {
          ...base,
          [Column.offset]: 4n,
          constructor: 'c',
          toString: 't',
          hasOwnProperty: Object.assign(Object.create(null), { a: 1n }),
        },
      ],
    });
    expect(result.untrusted.map((u) => [u.row[Column.offset], u.reasons])).toEqual([
      [1n, ['required: constructor is missing or null', 'required: toString is missing or null']],
      [2n, ['range: valueOf=-1 outside [0, ∞]']],
      [3n, ["duplicate: hasOwnProperty='k' already seen"]],
    ]);
    expect(result.trusted.map((r) => r[Column.offset])).toEqual([4n]);
  });
});
