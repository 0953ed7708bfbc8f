/**
 * Row filters: an expression tree over column names, bound to a schema (field ids, typed literals), evaluated three
 * ways — on a row (exact), on a data file's column metrics (might match?), and on partition values / manifest
 * partition summaries (might match?) through the partition transforms.
 */
import { compareValues, fromBinary } from './conversions.ts';
import { findFieldByName, IcebergFormatError, isPrimitive } from './schema.ts';
import type { DataFile, FieldSummary, PrimitiveType, StructType } from './types.ts';

export type Literal = string | number | bigint | boolean | Uint8Array;
export type ComparisonOp = 'eq' | 'notEq' | 'lt' | 'ltEq' | 'gt' | 'gtEq';

export type Expression =
  | { op: 'true' }
  | { op: 'false' }
  | { op: 'and' | 'or'; args: Expression[] }
  | { op: 'not'; arg: Expression }
  | { op: 'isNull' | 'notNull' | 'isNaN' | 'notNaN'; ref: string }
  | { op: ComparisonOp; ref: string; value: Literal }
  | { op: 'in' | 'notIn'; ref: string; values: Literal[] }
  | { op: 'startsWith'; ref: string; value: string };

export interface BoundRef {
  id: number;
  name: string;
  type: PrimitiveType;
}

export type BoundExpression =
  | { op: 'true' }
  | { op: 'false' }
  | { op: 'and' | 'or'; args: BoundExpression[] }
  | { op: 'not'; arg: BoundExpression }
  | { op: 'isNull' | 'notNull' | 'isNaN' | 'notNaN'; ref: BoundRef }
  | { op: ComparisonOp; ref: BoundRef; value: unknown }
  | { op: 'in' | 'notIn'; ref: BoundRef; values: unknown[] }
  | { op: 'startsWith'; ref: BoundRef; value: string };

export const alwaysTrue: Expression = { op: 'true' };

/** Converts a user literal to the Iceberg value of `type` (ISO strings for dates/timestamps, numbers for longs). */
export function literalFor(type: PrimitiveType, value: Literal, column: string): unknown {
  const fail = () =>
    new IcebergFormatError(
      `cannot compare column '${column}' of type ${type} with ${typeof value === 'bigint' ? value.toString() : JSON.stringify(value)}`,
    );
  switch (type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw fail();
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
      throw fail();
    case 'long':
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      if (typeof value === 'bigint') return value;
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
      throw fail();
    case 'float':
    case 'double':
      if (typeof value === 'number') return value;
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      throw fail();
    case 'date':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value))
        return Math.floor(Date.parse(`${value}T00:00:00Z`) / 86_400_000);
      throw fail();
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns': {
      const perMs = type.endsWith('_ns') ? 1_000_000n : 1000n;
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      if (typeof value === 'string') {
        const micros = parseTimestampMicros(value);
        if (micros !== undefined) return perMs === 1000n ? micros : micros * 1000n;
      }
      throw fail();
    }
    case 'string':
    case 'uuid':
      if (typeof value === 'string') return type === 'uuid' ? value.toLowerCase() : value;
      throw fail();
    default:
      if (value instanceof Uint8Array) return value;
      if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'string') {
        if (type.startsWith('decimal')) return decimalLiteral(type, String(value), fail);
      }
      throw fail();
  }
}

/** ISO-8601 timestamp (`2026-01-01`, `2026-01-01T10:00:00.123456Z`, offsets) → µs since epoch. */
export function parseTimestampMicros(text: string): bigint | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    text.trim(),
  );
  if (!match) return undefined;
  const [, date, time = '00:00:00', fraction = '', zone = 'Z'] = match;
  const ms = Date.parse(
    `${date}T${time.length === 5 ? `${time}:00` : time}${zone === 'Z' ? 'Z' : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`,
  );
  if (Number.isNaN(ms)) return undefined;
  const micros = BigInt((fraction + '000000').slice(0, 6));
  return BigInt(ms) * 1000n + micros;
}

function decimalLiteral(type: PrimitiveType, text: string, fail: () => Error): bigint {
  const scale = Number(/,\s*(\d+)\)/.exec(type)?.[1] ?? 0);
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) throw fail();
  const fraction = (match[3] ?? '').padEnd(scale, '0');
  if (fraction.length > scale && /[^0]/.test(fraction.slice(scale))) throw fail();
  const unscaled = BigInt(match[2] + fraction.slice(0, scale));
  return match[1] ? -unscaled : unscaled;
}

export function bind(expr: Expression, schema: StructType): BoundExpression {
  const ref = (name: string): BoundRef => {
    const field = findFieldByName(schema, name);
    if (!field) throw new IcebergFormatError(`unknown column '${name}' in filter`);
    if (!isPrimitive(field.type))
      throw new IcebergFormatError(`column '${name}' is a ${field.type.type}; filters apply to primitive columns`);
    return { id: field.id, name, type: field.type };
  };
  switch (expr.op) {
    case 'true':
    case 'false':
      return expr;
    case 'and':
    case 'or':
      return { op: expr.op, args: expr.args.map((a) => bind(a, schema)) };
    case 'not':
      return { op: 'not', arg: bind(expr.arg, schema) };
    case 'isNull':
    case 'notNull':
    case 'isNaN':
    case 'notNaN':
      return { op: expr.op, ref: ref(expr.ref) };
    case 'in':
    case 'notIn': {
      const r = ref(expr.ref);
      return { op: expr.op, ref: r, values: expr.values.map((v) => literalFor(r.type, v, r.name)) };
    }
    case 'startsWith': {
      const r = ref(expr.ref);
      if (r.type !== 'string')
        throw new IcebergFormatError(`startsWith needs a string column, '${r.name}' is ${r.type}`);
      return { op: 'startsWith', ref: r, value: expr.value };
    }
    default: {
      const r = ref(expr.ref);
      return { op: expr.op, ref: r, value: literalFor(r.type, expr.value, r.name) };
    }
  }
}

function compareOp(op: ComparisonOp, cmp: number): boolean {
  switch (op) {
    case 'eq':
      return cmp === 0;
    case 'notEq':
      return cmp !== 0;
    case 'lt':
      return cmp < 0;
    case 'ltEq':
      return cmp <= 0;
    case 'gt':
      return cmp > 0;
    case 'gtEq':
      return cmp >= 0;
  }
}

/** A hashable form of a value for set membership (equal values of one type give equal keys). */
function memberKey(value: unknown): string {
  if (value instanceof Uint8Array) return `b:${Buffer.from(value).toString('hex')}`;
  // as compareValues: -0 and +0 differ, NaN equals NaN
  if (typeof value === 'number' || typeof value === 'bigint')
    return Object.is(value, -0) ? 'n:-0' : `n:${String(value)}`;
  return `${typeof value}:${String(value)}`;
}

/** `in` lists can hold a whole batch's keys: evaluated through a set built once per bound expression. */
const memberSets = new WeakMap<BoundExpression, Set<string>>();
function memberSet(expr: Extract<BoundExpression, { op: 'in' | 'notIn' }>): Set<string> {
  let set = memberSets.get(expr);
  if (!set) memberSets.set(expr, (set = new Set(expr.values.map(memberKey))));
  return set;
}

/** Exact evaluation on one row; `valueOf` returns a column's Iceberg value by field id. */
export function evaluate(expr: BoundExpression, valueOf: (id: number) => unknown): boolean {
  switch (expr.op) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'and':
      return expr.args.every((a) => evaluate(a, valueOf));
    case 'or':
      return expr.args.some((a) => evaluate(a, valueOf));
    case 'not':
      return !evaluate(expr.arg, valueOf);
    case 'isNull':
      return valueOf(expr.ref.id) == null;
    case 'notNull':
      return valueOf(expr.ref.id) != null;
    case 'isNaN':
      return Number.isNaN(valueOf(expr.ref.id));
    case 'notNaN':
      return !Number.isNaN(valueOf(expr.ref.id));
    case 'in':
    case 'notIn': {
      const v = valueOf(expr.ref.id);
      if (v == null) return false;
      const found = memberSet(expr).has(memberKey(v));
      return expr.op === 'in' ? found : !found;
    }
    case 'startsWith': {
      const v = valueOf(expr.ref.id);
      return typeof v === 'string' && v.startsWith(expr.value);
    }
    default: {
      const v = valueOf(expr.ref.id);
      if (v == null) return false;
      if (typeof v === 'number' && Number.isNaN(v)) return expr.op === 'notEq';
      return compareOp(expr.op, compareValues(expr.ref.type, v, expr.value));
    }
  }
}

/** What is known about one column of a file or partition: bounds and whether nulls/NaNs may occur. */
export interface ColumnStats {
  lower?: unknown;
  upper?: unknown;
  /** false only when the column certainly has no nulls. */
  mayHaveNull: boolean;
  /** false only when the column certainly has only nulls. */
  mayHaveNonNull: boolean;
  mayHaveNaN: boolean;
}

/**
 * Whether any row with these column stats can match (inclusive: true when unsure). `statsOf` returns undefined for
 * columns without stats.
 */
export function mightMatch(expr: BoundExpression, statsOf: (ref: BoundRef) => ColumnStats | undefined): boolean {
  switch (expr.op) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'and':
      return expr.args.every((a) => mightMatch(a, statsOf));
    case 'or':
      return expr.args.some((a) => mightMatch(a, statsOf));
    // Metrics cannot prove a negation false in general; rewrite the common forms, else assume a match.
    case 'not':
      return mightMatchNegated(expr.arg, statsOf);
    case 'isNull':
      return statsOf(expr.ref)?.mayHaveNull ?? true;
    case 'notNull':
      return statsOf(expr.ref)?.mayHaveNonNull ?? true;
    case 'isNaN':
      return statsOf(expr.ref)?.mayHaveNaN ?? true;
    case 'notNaN':
      return true;
    case 'notIn':
    case 'notEq':
      return true;
    case 'in': {
      const stats = statsOf(expr.ref);
      return expr.values.some((v) => rangeMightContain(expr.ref, stats, 'eq', v));
    }
    case 'startsWith': {
      const stats = statsOf(expr.ref);
      if (!stats || !stats.mayHaveNonNull) return Boolean(stats?.mayHaveNonNull ?? true);
      const lower = stats.lower as string | undefined;
      const upper = stats.upper as string | undefined;
      const p = expr.value;
      if (lower !== undefined && upper !== undefined) {
        if (lower.slice(0, p.length) > p && !lower.startsWith(p)) return false;
        if (upper.slice(0, p.length) < p) return false;
      }
      return true;
    }
    default:
      return rangeMightContain(expr.ref, statsOf(expr.ref), expr.op, expr.value);
  }
}

function mightMatchNegated(expr: BoundExpression, statsOf: (ref: BoundRef) => ColumnStats | undefined): boolean {
  switch (expr.op) {
    case 'true':
      return false;
    case 'false':
      return true;
    case 'not':
      return mightMatch(expr.arg, statsOf);
    case 'and':
      return expr.args.some((a) => mightMatchNegated(a, statsOf));
    case 'or':
      return expr.args.every((a) => mightMatchNegated(a, statsOf));
    case 'isNull':
      return mightMatch({ op: 'notNull', ref: expr.ref }, statsOf);
    case 'notNull':
      return mightMatch({ op: 'isNull', ref: expr.ref }, statsOf);
    case 'lt':
      return mightMatch({ op: 'gtEq', ref: expr.ref, value: expr.value }, statsOf);
    case 'ltEq':
      return mightMatch({ op: 'gt', ref: expr.ref, value: expr.value }, statsOf);
    case 'gt':
      return mightMatch({ op: 'ltEq', ref: expr.ref, value: expr.value }, statsOf);
    case 'gtEq':
      return mightMatch({ op: 'lt', ref: expr.ref, value: expr.value }, statsOf);
    case 'notEq':
      return mightMatch({ op: 'eq', ref: expr.ref, value: expr.value }, statsOf);
    case 'notIn':
      return mightMatch({ op: 'in', ref: expr.ref, values: expr.values }, statsOf);
    default:
      return true;
  }
}

function rangeMightContain(ref: BoundRef, stats: ColumnStats | undefined, op: ComparisonOp, value: unknown): boolean {
  if (!stats) return true;
  if (!stats.mayHaveNonNull) return false;
  const { lower, upper } = stats;
  const type = ref.type;
  // NaN bounds are never written, but a float column with NaNs may still match nothing we can prove here.
  switch (op) {
    case 'eq':
      if (lower !== undefined && compareValues(type, value, lower) < 0) return false;
      if (upper !== undefined && compareValues(type, value, upper) > 0) return false;
      return true;
    case 'lt':
      return lower === undefined || compareValues(type, lower, value) < 0;
    case 'ltEq':
      return lower === undefined || compareValues(type, lower, value) <= 0;
    case 'gt':
      return upper === undefined || compareValues(type, upper, value) > 0;
    case 'gtEq':
      return upper === undefined || compareValues(type, upper, value) >= 0;
    default:
      return true;
  }
}

/**
 * Column stats of a data file from its metrics (bounds decoded with the column's current type). Each column's bounds
 * are decoded once per file: an `in` with a batch's keys asks for the same column once per value.
 */
export function fileStats(file: DataFile): (ref: BoundRef) => ColumnStats | undefined {
  const decoded = new Map<number, ColumnStats | undefined>();
  return (ref) => {
    if (decoded.has(ref.id)) return decoded.get(ref.id);
    const stats = columnStats(file, ref);
    decoded.set(ref.id, stats);
    return stats;
  };
}

function columnStats(file: DataFile, ref: BoundRef): ColumnStats | undefined {
  const values = file.valueCounts?.get(ref.id);
  const nulls = file.nullValueCounts?.get(ref.id);
  const nans = file.nanValueCounts?.get(ref.id);
  const lowerBytes = file.lowerBounds?.get(ref.id);
  const upperBytes = file.upperBounds?.get(ref.id);
  if (values === undefined && nulls === undefined && lowerBytes === undefined && upperBytes === undefined)
    return undefined;
  return {
    lower: lowerBytes ? fromBinary(ref.type, lowerBytes) : undefined,
    upper: upperBytes ? fromBinary(ref.type, upperBytes) : undefined,
    mayHaveNull: nulls === undefined || nulls > 0,
    mayHaveNonNull: values === undefined || nulls === undefined || values - nulls - (nans ?? 0) > 0 || (nans ?? 0) > 0,
    mayHaveNaN: nans === undefined || nans > 0,
  };
}

/** Column stats of a manifest's partition field from its manifest-list summary. */
export function summaryStats(summary: FieldSummary | undefined, type: PrimitiveType): ColumnStats | undefined {
  if (!summary) return undefined;
  const hasBounds = summary.lowerBound !== undefined && summary.upperBound !== undefined;
  return {
    lower: summary.lowerBound ? fromBinary(type, summary.lowerBound) : undefined,
    upper: summary.upperBound ? fromBinary(type, summary.upperBound) : undefined,
    mayHaveNull: summary.containsNull,
    mayHaveNonNull:
      hasBounds || summary.containsNan === true || (summary.containsNan === undefined && !summary.containsNull),
    mayHaveNaN: summary.containsNan !== false,
  };
}
