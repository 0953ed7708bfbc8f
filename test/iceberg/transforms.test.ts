import { describe, expect, it } from 'vitest';
import { IcebergFormatError } from '../../shared/iceberg/schema.ts';
import {
  applyTransform,
  bigDecimalString,
  canTransform,
  parseTransform,
  preservesOrder,
  projectComparison,
  toHumanString,
  transformResultType,
  transformToString,
} from '../../shared/iceberg/transforms.ts';
import type { PrimitiveType } from '../../shared/iceberg/types.ts';

const us = (iso: string) => BigInt(Date.parse(`${iso}Z`)) * 1000n; // µs since epoch of a UTC ISO time (ms precision)
const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const bucketOf = (hash: number, n: number) => (hash & 0x7fffffff) % n;

describe('parseTransform', () => {
  it('parses and prints every transform', () => {
    for (const text of ['identity', 'bucket[16]', 'truncate[10]', 'year', 'month', 'day', 'hour', 'void']) {
      expect(transformToString(parseTransform(text))).toBe(text);
    }
    expect(parseTransform(' BUCKET[ 4 ] ')).toEqual({ kind: 'bucket', buckets: 4 });
    expect(parseTransform('truncate[3]')).toEqual({ kind: 'truncate', width: 3 });
  });

  it('keeps unknown transforms (a newer spec) instead of failing', () => {
    expect(parseTransform('zorder[a,b]')).toEqual({ kind: 'unknown', text: 'zorder[a,b]' });
    expect(() => transformResultType('zorder[a,b]', 'int')).toThrow(IcebergFormatError);
    expect(canTransform('zorder[a,b]', 'int')).toBe(false);
  });

  it('rejects a zero bucket count', () => {
    expect(() => parseTransform('bucket[0]')).toThrow(/positive/);
  });
});

describe('result types', () => {
  it('follows the spec table', () => {
    expect(transformResultType('identity', 'timestamptz')).toBe('timestamptz');
    expect(transformResultType('bucket[4]', 'string')).toBe('int');
    expect(transformResultType('truncate[10]', 'decimal(10, 2)')).toBe('decimal(10, 2)');
    expect(transformResultType('year', 'date')).toBe('int');
    expect(transformResultType('month', 'timestamp')).toBe('int');
    expect(transformResultType('day', 'timestamptz')).toBe('date');
    expect(transformResultType('hour', 'timestamptz_ns')).toBe('int');
    expect(transformResultType('void', 'string')).toBe('string');
  });

  it('refuses transforms a source type does not support', () => {
    for (const [transform, type] of [
      ['bucket[4]', 'float'],
      ['bucket[4]', 'boolean'],
      ['truncate[4]', 'date'],
      ['hour', 'date'],
      ['day', 'long'],
      ['identity', 'unknown'],
    ] as const) {
      expect(canTransform(transform, type)).toBe(false);
      expect(() => transformResultType(transform, type)).toThrow(/cannot be applied/);
    }
  });

  it('knows which transforms preserve order', () => {
    expect(['identity', 'truncate[2]', 'year', 'month', 'day', 'hour'].every((t) => preservesOrder(t))).toBe(true);
    expect(preservesOrder('bucket[8]')).toBe(false);
    expect(preservesOrder('void')).toBe(false);
  });
});

describe('bucket', () => {
  // spec Appendix B hash vectors; bucket = (hash & Integer.MAX_VALUE) % N
  const vectors: [PrimitiveType, unknown, number][] = [
    ['int', 34, 2017239379],
    ['long', 34n, 2017239379],
    ['decimal(4, 2)', 1420n, -500754589],
    ['date', 17486, -653330422],
    ['time', 81068000000n, -662762989],
    ['timestamp', 1510871468000000n, -2047944441],
    ['timestamptz', 1510871468000000n, -2047944441],
    ['timestamp_ns', 1510871468000000001n, -2047944441],
    ['timestamptz_ns', 1510871468000000999n, -2047944441],
    ['string', 'iceberg', 1210000089],
    ['uuid', 'f79c3e09-677c-4bbd-a479-3f349cb785e7', 1488055340],
    ['fixed[4]', Uint8Array.of(0, 1, 2, 3), -188683207],
    ['binary', Uint8Array.of(0, 1, 2, 3), -188683207],
  ];
  it.each(vectors)('bucket of %s %s follows the spec hash', (type, value, hash) => {
    for (const n of [1, 4, 16, 1000]) expect(applyTransform(`bucket[${n}]`, type, value)).toBe(bucketOf(hash, n));
  });

  it('maps null to null', () => {
    expect(applyTransform('bucket[4]', 'int', null)).toBeNull();
    expect(applyTransform('bucket[4]', 'int', undefined)).toBeNull();
  });

  it('floors nanoseconds before 1970 to the microsecond below', () => {
    expect(applyTransform('bucket[16]', 'timestamp_ns', -1n)).toBe(applyTransform('bucket[16]', 'timestamp', -1n));
    expect(applyTransform('bucket[16]', 'timestamp_ns', -1000n)).toBe(applyTransform('bucket[16]', 'timestamp', -1n));
    expect(applyTransform('bucket[16]', 'timestamp_ns', -1001n)).toBe(applyTransform('bucket[16]', 'timestamp', -2n));
  });
});

describe('truncate', () => {
  it('truncates numbers toward negative infinity (spec examples)', () => {
    expect(applyTransform('truncate[10]', 'int', 1)).toBe(0);
    expect(applyTransform('truncate[10]', 'int', -1)).toBe(-10);
    expect(applyTransform('truncate[10]', 'int', 10)).toBe(10);
    expect(applyTransform('truncate[10]', 'int', -10)).toBe(-10);
    expect(applyTransform('truncate[10]', 'long', -1n)).toBe(-10n);
    expect(applyTransform('truncate[10]', 'long', 9_223_372_036_854_775_807n)).toBe(9_223_372_036_854_775_800n);
    expect(applyTransform('truncate[50]', 'decimal(9, 2)', 1065n)).toBe(1050n); // 10.65 → 10.50
    expect(applyTransform('truncate[50]', 'decimal(9, 2)', -1065n)).toBe(-1100n); // -10.65 → -11.00
  });

  it('truncates strings by code point and binary by byte', () => {
    expect(applyTransform('truncate[3]', 'string', 'iceberg')).toBe('ice');
    expect(applyTransform('truncate[3]', 'string', 'ic')).toBe('ic');
    expect(applyTransform('truncate[2]', 'string', '😀😀x')).toBe('😀😀');
    expect(applyTransform('truncate[3]', 'binary', Uint8Array.of(1, 2, 3, 4, 5))).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe('time transforms', () => {
  const ts = us('2017-12-01T10:12:55.038') + 194n; // Java TestTimestamps: 2017-12-01T10:12:55.038194

  it('computes years, months, days and hours since the epoch', () => {
    for (const type of ['timestamp', 'timestamptz'] as const) {
      expect(applyTransform('year', type, ts)).toBe(47);
      expect(applyTransform('month', type, ts)).toBe(575);
      expect(applyTransform('day', type, ts)).toBe(17501);
      expect(applyTransform('hour', type, ts)).toBe(420034);
    }
    expect(applyTransform('day', 'timestamp_ns', ts * 1000n + 999n)).toBe(17501);
    expect(applyTransform('hour', 'timestamptz_ns', ts * 1000n)).toBe(420034);
    const date = days('2017-12-01');
    expect([
      applyTransform('year', 'date', date),
      applyTransform('month', 'date', date),
      applyTransform('day', 'date', date),
    ]).toEqual([47, 575, 17501]);
  });

  it('floors values before 1970', () => {
    const justBefore = -1n; // 1969-12-31T23:59:59.999999
    expect(['year', 'month', 'day', 'hour'].map((t) => applyTransform(t, 'timestamp', justBefore))).toEqual([
      -1, -1, -1, -1,
    ]);
    const newYear1969 = us('1969-01-01T00:00:00');
    expect(['year', 'month', 'day', 'hour'].map((t) => applyTransform(t, 'timestamptz', newYear1969))).toEqual([
      -1, -12, -365, -8760,
    ]);
    expect(['year', 'month', 'day'].map((t) => applyTransform(t, 'date', -1))).toEqual([-1, -1, -1]);
    expect(applyTransform('day', 'timestamp_ns', -1n)).toBe(-1);
    expect(applyTransform('year', 'date', days('1900-03-01'))).toBe(-70);
    expect(applyTransform('month', 'date', days('1900-03-01'))).toBe(-70 * 12 + 2);
  });

  it('maps the epoch to 0', () => {
    expect(['year', 'month', 'day', 'hour'].map((t) => applyTransform(t, 'timestamp', 0n))).toEqual([0, 0, 0, 0]);
  });
});

describe('toHumanString (partition path text)', () => {
  it('formats time transform results like Java', () => {
    expect(toHumanString('year', 'timestamp', 47)).toBe('2017');
    expect(toHumanString('month', 'timestamp', 575)).toBe('2017-12');
    expect(toHumanString('day', 'timestamptz', 17501)).toBe('2017-12-01');
    expect(toHumanString('hour', 'timestamptz', 420034)).toBe('2017-12-01-10');
    expect(toHumanString('month', 'date', -1)).toBe('1969-12');
    expect(toHumanString('day', 'date', -1)).toBe('1969-12-31');
    expect(toHumanString('hour', 'timestamp', -1)).toBe('1969-12-31-23');
    expect(toHumanString('year', 'date', -1971)).toBe('-001');
  });

  it('formats identity values per source type', () => {
    expect(toHumanString('identity', 'timestamptz', 1684161045000000n)).toBe('2023-05-15T14:30:45+00:00');
    expect(toHumanString('identity', 'timestamp', ts())).toBe('2017-12-01T10:12:55.038194');
    expect(toHumanString('identity', 'timestamp', us('2017-12-01T10:12:00'))).toBe('2017-12-01T10:12:00');
    expect(toHumanString('identity', 'timestamp', us('2017-12-01T10:12:55.5'))).toBe('2017-12-01T10:12:55.5');
    expect(toHumanString('identity', 'timestamptz_ns', 1n)).toBe('1970-01-01T00:00:00.000000001+00:00');
    expect(toHumanString('identity', 'timestamp', -1n)).toBe('1969-12-31T23:59:59.999999');
    expect(toHumanString('identity', 'date', 17501)).toBe('2017-12-01');
    expect(toHumanString('identity', 'time', 81068000000n)).toBe('22:31:08');
    expect(toHumanString('identity', 'time', 81060000000n)).toBe('22:31');
    expect(toHumanString('identity', 'time', 81068123000n)).toBe('22:31:08.123');
    expect(toHumanString('identity', 'time', 81068123400n)).toBe('22:31:08.123400');
    expect(toHumanString('identity', 'binary', Uint8Array.of(0, 1, 2, 3))).toBe('AAECAw==');
    expect(toHumanString('identity', 'fixed[2]', Uint8Array.of(255, 254))).toBe('//4=');
    expect(toHumanString('identity', 'decimal(9, 2)', 1050n)).toBe('10.50');
    expect(toHumanString('identity', 'uuid', 'f79c3e09-677c-4bbd-a479-3f349cb785e7')).toBe(
      'f79c3e09-677c-4bbd-a479-3f349cb785e7',
    );
    expect(toHumanString('identity', 'boolean', true)).toBe('true');
    expect(toHumanString('identity', 'long', 9_223_372_036_854_775_807n)).toBe('9223372036854775807');
    expect(toHumanString('identity', 'string', 'a b')).toBe('a b');
    expect(toHumanString('truncate[2]', 'string', 'ab')).toBe('ab');
    expect(toHumanString('bucket[4]', 'int', 3)).toBe('3');
    expect(toHumanString('void', 'int', null)).toBe('null');
    expect(toHumanString('identity', 'date', null)).toBe('null');
  });

  it('formats floating point like Java Double/Float.toString', () => {
    const d = (v: number) => toHumanString('identity', 'double', v);
    expect([
      d(1),
      d(-2.5),
      d(0.001),
      d(1e-4),
      d(1234567),
      d(12345678.9),
      d(1e10),
      d(0),
      d(-0),
      d(NaN),
      d(-Infinity),
    ]).toEqual([
      '1.0',
      '-2.5',
      '0.001',
      '1.0E-4',
      '1234567.0',
      '1.23456789E7',
      '1.0E10',
      '0.0',
      '-0.0',
      'NaN',
      '-Infinity',
    ]);
    expect(toHumanString('identity', 'float', Math.fround(0.1))).toBe('0.1');
    expect(toHumanString('identity', 'float', Math.fround(3.4e38))).toBe('3.4E38');
  });

  it('formats decimals like Java BigDecimal.toString', () => {
    expect(bigDecimalString(1050n, 2)).toBe('10.50');
    expect(bigDecimalString(-5n, 2)).toBe('-0.05');
    expect(bigDecimalString(0n, 2)).toBe('0.00');
    expect(bigDecimalString(12345n, 0)).toBe('12345');
    expect(bigDecimalString(1n, 6)).toBe('0.000001');
    expect(bigDecimalString(1n, 7)).toBe('1E-7');
    expect(bigDecimalString(-123n, 10)).toBe('-1.23E-8');
  });

  function ts() {
    return us('2017-12-01T10:12:55.038') + 194n;
  }
});

describe('projectComparison', () => {
  const noon = us('2017-11-16T12:00:00');
  const midnight = us('2017-11-16T00:00:00');
  it('projects timestamp ranges onto day partitions', () => {
    expect(projectComparison('day', 'timestamptz', '=', noon)).toEqual({ op: '=', value: 17486 });
    expect(projectComparison('day', 'timestamptz', '>=', noon)).toEqual({ op: '>=', value: 17486 });
    expect(projectComparison('day', 'timestamptz', '<', noon)).toEqual({ op: '<=', value: 17486 });
    // strictly before midnight excludes the day that starts at midnight
    expect(projectComparison('day', 'timestamptz', '<', midnight)).toEqual({ op: '<=', value: 17485 });
    expect(projectComparison('hour', 'timestamp', '>', midnight)).toEqual({ op: '>=', value: 17486 * 24 });
  });

  it('projects truncate with integral tightening', () => {
    expect(projectComparison('truncate[10]', 'int', '>', 19)).toEqual({ op: '>=', value: 20 });
    expect(projectComparison('truncate[10]', 'int', '<', 20)).toEqual({ op: '<=', value: 10 });
    expect(projectComparison('truncate[2]', 'string', '<', 'icf')).toEqual({ op: '<=', value: 'ic' });
  });

  it('keeps identity comparisons, buckets only equality, nothing for void', () => {
    expect(projectComparison('identity', 'int', '<', 5)).toEqual({ op: '<', value: 5 });
    expect(projectComparison('bucket[16]', 'int', '=', 34)).toEqual({ op: '=', value: bucketOf(2017239379, 16) });
    expect(projectComparison('bucket[16]', 'int', '<', 34)).toBeUndefined();
    expect(projectComparison('void', 'int', '=', 34)).toBeUndefined();
    expect(projectComparison('day', 'timestamp', '=', null)).toBeUndefined();
  });
});
