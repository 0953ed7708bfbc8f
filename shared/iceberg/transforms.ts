/**
 * Partition transforms (spec "Partition Transforms"): parsing, result types, application to Iceberg values (see the
 * value representation in `types.ts`), the human strings Java puts in partition paths, and the projection of a
 * comparison on a source column onto the partition value (for pruning).
 */
import { bigintToMinimalBytes, uuidToBytes } from './conversions.ts';
import { murmur3Hash, murmur3HashLong, murmur3HashString } from './murmur3.ts';
import { decimalOf, fixedLength, IcebergFormatError } from './schema.ts';
import type { PrimitiveType } from './types.ts';

export type Transform =
  | { kind: 'identity' }
  | { kind: 'bucket'; buckets: number }
  | { kind: 'truncate'; width: number }
  | { kind: 'year' }
  | { kind: 'month' }
  | { kind: 'day' }
  | { kind: 'hour' }
  | { kind: 'void' }
  /** A transform this library does not know (a newer spec's); readers must tolerate it and not prune on it. */
  | { kind: 'unknown'; text: string };

const SIMPLE = new Set(['identity', 'year', 'month', 'day', 'hour', 'void']);

export function parseTransform(text: string): Transform {
  const lower = text.trim().toLowerCase();
  if (SIMPLE.has(lower)) return { kind: lower } as Transform;
  const match = /^(bucket|truncate)\[\s*(\d+)\s*\]$/.exec(lower);
  if (match) {
    const n = Number(match[2]);
    if (n < 1 || n > 0x7fffffff)
      throw new IcebergFormatError(`invalid transform '${text}': parameter must be a positive int`);
    return match[1] === 'bucket' ? { kind: 'bucket', buckets: n } : { kind: 'truncate', width: n };
  }
  return { kind: 'unknown', text };
}

/** The spec's string form: `identity`, `bucket[16]`, `truncate[10]`, `day`, ... */
export function transformToString(transform: Transform): string {
  switch (transform.kind) {
    case 'bucket':
      return `bucket[${transform.buckets}]`;
    case 'truncate':
      return `truncate[${transform.width}]`;
    case 'unknown':
      return transform.text;
    default:
      return transform.kind;
  }
}

function asTransform(transform: string | Transform): Transform {
  return typeof transform === 'string' ? parseTransform(transform) : transform;
}

const INTEGRAL_TIME = new Set<PrimitiveType>(['time', 'timestamp', 'timestamptz', 'timestamp_ns', 'timestamptz_ns']);
const TIMESTAMPS = new Set<PrimitiveType>(['timestamp', 'timestamptz', 'timestamp_ns', 'timestamptz_ns']);
const NANOS = new Set<PrimitiveType>(['timestamp_ns', 'timestamptz_ns']);

/** Whether the transform accepts values of this source type (spec table "Partition Transforms"). */
export function canTransform(transform: string | Transform, sourceType: PrimitiveType): boolean {
  const t = asTransform(transform);
  const decimal = decimalOf(sourceType) !== undefined;
  switch (t.kind) {
    case 'identity':
      return sourceType !== 'unknown';
    case 'void':
      return true;
    case 'bucket':
      return (
        decimal ||
        fixedLength(sourceType) !== undefined ||
        ['int', 'long', 'date', 'string', 'uuid', 'binary'].includes(sourceType) ||
        INTEGRAL_TIME.has(sourceType)
      );
    case 'truncate':
      return decimal || ['int', 'long', 'string', 'binary'].includes(sourceType);
    case 'year':
    case 'month':
    case 'day':
      return sourceType === 'date' || TIMESTAMPS.has(sourceType);
    case 'hour':
      return TIMESTAMPS.has(sourceType);
    case 'unknown':
      return false;
  }
}

/** The type of the partition value (and of the manifest's partition field) for a source type. */
export function transformResultType(transform: string | Transform, sourceType: PrimitiveType): PrimitiveType {
  const t = asTransform(transform);
  if (t.kind === 'unknown') throw new IcebergFormatError(`unknown partition transform '${t.text}'`);
  if (!canTransform(t, sourceType)) {
    throw new IcebergFormatError(`transform '${transformToString(t)}' cannot be applied to type ${sourceType}`);
  }
  switch (t.kind) {
    case 'bucket':
    case 'year':
    case 'month':
    case 'hour':
      return 'int';
    case 'day':
      return 'date';
    default:
      return sourceType;
  }
}

/** Whether `a <= b` implies `transform(a) <= transform(b)` — the transforms a range filter can prune on. */
export function preservesOrder(transform: string | Transform): boolean {
  const kind = asTransform(transform).kind;
  return (
    kind === 'identity' ||
    kind === 'truncate' ||
    kind === 'year' ||
    kind === 'month' ||
    kind === 'day' ||
    kind === 'hour'
  );
}

type TransformFunction = (value: unknown) => unknown;

const compiled = new Map<string, TransformFunction>();

/** Applies a transform to one Iceberg value of `sourceType`; null and undefined map to null. */
export function applyTransform(transform: string | Transform, sourceType: PrimitiveType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return transformFunction(transform, sourceType)(value);
}

/** The transform as a function of non-null values, compiled once per (transform, source type). */
export function transformFunction(transform: string | Transform, sourceType: PrimitiveType): TransformFunction {
  const t = asTransform(transform);
  const key = `${transformToString(t)}|${sourceType}`;
  let fn = compiled.get(key);
  if (!fn) {
    transformResultType(t, sourceType); // validates the pair
    fn = compile(t, sourceType);
    compiled.set(key, fn);
  }
  return fn;
}

function compile(t: Transform, sourceType: PrimitiveType): TransformFunction {
  switch (t.kind) {
    case 'identity':
      return (v) => v;
    case 'void':
      return () => null;
    case 'bucket': {
      const hash = hasher(sourceType);
      return (v) => (hash(v) & 0x7fffffff) % t.buckets;
    }
    case 'truncate':
      return truncator(sourceType, t.width);
    case 'day':
      return sourceType === 'date'
        ? (v) => Number(v)
        : (v) => Number(floorDiv(toMicros(sourceType, v), MICROS_PER_DAY));
    case 'hour':
      return (v) => Number(floorDiv(toMicros(sourceType, v), MICROS_PER_HOUR));
    case 'year':
      return (v) => civil(daysOf(sourceType, v)).year - 1970;
    case 'month':
      return (v) => {
        const { year, month } = civil(daysOf(sourceType, v));
        return (year - 1970) * 12 + month - 1;
      };
    case 'unknown':
      throw new IcebergFormatError(`unknown partition transform '${t.text}'`);
  }
}

function hasher(sourceType: PrimitiveType): (v: unknown) => number {
  if (decimalOf(sourceType)) return (v) => murmur3Hash(bigintToMinimalBytes(BigInt(v as bigint)));
  if (fixedLength(sourceType) !== undefined) return (v) => murmur3Hash(v as Uint8Array);
  switch (sourceType) {
    case 'int':
    case 'date':
      return (v) => murmur3HashLong(v as number);
    case 'string':
      return (v) => murmur3HashString(v as string);
    case 'uuid':
      return (v) => murmur3Hash(uuidToBytes(v as string));
    case 'binary':
      return (v) => murmur3Hash(v as Uint8Array);
    default: // long, time, timestamps: nanosecond values are hashed as microseconds
      return (v) => murmur3HashLong(NANOS.has(sourceType) ? floorDiv(BigInt(v as bigint), 1000n) : (v as bigint));
  }
}

function truncator(sourceType: PrimitiveType, width: number): TransformFunction {
  if (sourceType === 'int') return (v) => (v as number) - ((((v as number) % width) + width) % width);
  if (sourceType === 'long' || decimalOf(sourceType)) {
    // decimals truncate their unscaled value: W scaled to the column's scale is W units of the last digit
    const w = BigInt(width);
    return (v) => {
      const x = BigInt(v as bigint);
      return x - (((x % w) + w) % w);
    };
  }
  if (sourceType === 'string') return (v) => truncateCodePoints(v as string, width);
  return (v) => ((v as Uint8Array).byteLength <= width ? v : (v as Uint8Array).slice(0, width));
}

function truncateCodePoints(s: string, width: number): string {
  if (s.length <= width) return s;
  let end = 0;
  for (let n = 0; n < width && end < s.length; n++) end += s.codePointAt(end)! > 0xffff ? 2 : 1;
  return s.slice(0, end);
}

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function floorMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

function toMicros(sourceType: PrimitiveType, v: unknown): bigint {
  const x = BigInt(v as bigint);
  return NANOS.has(sourceType) ? floorDiv(x, 1000n) : x;
}

function daysOf(sourceType: PrimitiveType, v: unknown): number {
  return sourceType === 'date' ? Number(v) : Number(floorDiv(toMicros(sourceType, v), MICROS_PER_DAY));
}

/** Proleptic Gregorian calendar date of a day count since 1970-01-01 (exact for any realistic date). */
function civil(days: number): { year: number; month: number; day: number } {
  const date = new Date(days * 86_400_000);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

// ---- human strings (Java `Transform.toHumanString`, used in partition paths) ----

/** The text Java writes for a partition value in paths: transform result `value` of a field on `sourceType`. */
export function toHumanString(transform: string | Transform, sourceType: PrimitiveType, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const t = asTransform(transform);
  switch (t.kind) {
    case 'identity':
    case 'truncate':
      return humanValue(sourceType, value);
    case 'year':
      return pad(1970 + Number(value), 4);
    case 'month': {
      const m = Number(value);
      return `${pad(1970 + Math.floor(m / 12), 4)}-${pad(1 + floorMod(m, 12), 2)}`;
    }
    case 'day':
      return humanDate(Number(value));
    case 'hour': {
      const h = Number(value);
      return `${humanDate(Math.floor(h / 24))}-${pad(floorMod(h, 24), 2)}`;
    }
    case 'void':
      return 'null';
    default:
      return String(value);
  }
}

/** Java's `String.format("%0Nd")`: zero padded, sign before the zeros. */
function pad(n: number, width: number): string {
  return n < 0 ? `-${String(-n).padStart(width - 1, '0')}` : String(n).padStart(width, '0');
}

function humanDate(days: number): string {
  const { year, month, day } = civil(days);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

function humanValue(type: PrimitiveType, value: unknown): string {
  switch (type) {
    case 'date':
      return humanDate(Number(value));
    case 'time':
      return humanTime(BigInt(value as bigint) * 1000n);
    case 'timestamp':
      return isoDateTime(BigInt(value as bigint) * 1000n);
    case 'timestamptz':
      return `${isoDateTime(BigInt(value as bigint) * 1000n)}+00:00`;
    case 'timestamp_ns':
      return isoDateTime(BigInt(value as bigint));
    case 'timestamptz_ns':
      return `${isoDateTime(BigInt(value as bigint))}+00:00`;
    case 'binary':
      return Buffer.from(value as Uint8Array).toString('base64');
    case 'float':
    case 'double':
      return javaFloatingString(value as number, type === 'float');
    default: {
      const decimal = decimalOf(type);
      if (decimal) return bigDecimalString(BigInt(value as bigint), decimal.scale);
      if (fixedLength(type) !== undefined) return Buffer.from(value as Uint8Array).toString('base64');
      return String(value);
    }
  }
}

const NANOS_PER_DAY = 86_400_000_000_000n;

/** `DateTimeFormatter.ISO_LOCAL_DATE_TIME` of nanoseconds since the epoch: seconds always, fraction trimmed. */
function isoDateTime(nanos: bigint): string {
  const days = floorDiv(nanos, NANOS_PER_DAY);
  const { year, month, day } = civil(Number(days));
  const yearText = year > 9999 ? `+${year}` : pad(year, 4);
  const ofDay = nanos - days * NANOS_PER_DAY;
  const seconds = Number(ofDay / 1_000_000_000n);
  const fraction = Number(ofDay % 1_000_000_000n);
  const time = `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}`;
  const fractionText = fraction ? `.${String(fraction).padStart(9, '0').replace(/0+$/, '')}` : '';
  return `${yearText}-${pad(month, 2)}-${pad(day, 2)}T${time}${fractionText}`;
}

/** `LocalTime.toString()`: `HH:mm`, then `:ss` and a 3/6/9-digit fraction only when non-zero. */
function humanTime(nanosOfDay: bigint): string {
  const seconds = Number(nanosOfDay / 1_000_000_000n);
  const nano = Number(nanosOfDay % 1_000_000_000n);
  let text = `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}`;
  if (seconds % 60 || nano) {
    text += `:${pad(seconds % 60, 2)}`;
    if (nano) {
      const digits = String(nano).padStart(9, '0');
      text += `.${nano % 1_000_000 === 0 ? digits.slice(0, 3) : nano % 1000 === 0 ? digits.slice(0, 6) : digits}`;
    }
  }
  return text;
}

/** Java `BigDecimal.toString()`: plain notation unless the adjusted exponent is below -6. */
export function bigDecimalString(unscaled: bigint, scale: number): string {
  const sign = unscaled < 0n ? '-' : '';
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  const adjusted = digits.length - 1 - scale;
  if (scale === 0) return sign + digits;
  if (scale > 0 && adjusted >= -6) {
    const point = digits.length - scale;
    return point > 0
      ? `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
      : `${sign}0.${'0'.repeat(-point)}${digits}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${mantissa}E${adjusted >= 0 ? '+' : ''}${adjusted}`;
}

/** Java `Double.toString` / `Float.toString`: shortest digits, `1.0`, `1.0E10`, `1.0E-5`. */
function javaFloatingString(value: number, isFloat: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const shortest = isFloat ? shortestFloat(value) : value;
  const [mantissa, exponentText] = shortest.toExponential().split('e');
  const exponent = Number(exponentText);
  const sign = value < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
  }
  return `${sign}${digits[0]}.${digits.slice(1) || '0'}E${exponent}`;
}

function shortestFloat(value: number): number {
  for (let precision = 1; precision < 9; precision++) {
    const candidate = Number(value.toPrecision(precision));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}

// ---- predicate projection (pruning) ----

export type Comparison = '<' | '<=' | '>' | '>=' | '=';

/**
 * Inclusive projection: a comparison `source op value` becomes a comparison on the partition value that every
 * matching row's partition satisfies, or `undefined` when the transform cannot prune this comparison.
 */
export function projectComparison(
  transform: string | Transform,
  sourceType: PrimitiveType,
  op: Comparison,
  value: unknown,
): { op: Comparison; value: unknown } | undefined {
  const t = asTransform(transform);
  if (value === null || value === undefined || !canTransform(t, sourceType)) return undefined;
  if (t.kind === 'identity') return { op, value };
  if (t.kind === 'bucket') return op === '=' ? { op, value: applyTransform(t, sourceType, value) } : undefined;
  if (!preservesOrder(t)) return undefined;
  let inclusiveOp = op;
  let bound = value;
  if (op === '<' || op === '>') {
    // a strict bound on an integral type tightens by one unit; on strings/bytes it just becomes inclusive
    inclusiveOp = op === '<' ? '<=' : '>=';
    const step = op === '<' ? -1 : 1;
    if (typeof value === 'number') bound = value + step;
    else if (typeof value === 'bigint') bound = value + BigInt(step);
  }
  return { op: inclusiveOp, value: applyTransform(t, sourceType, bound) };
}
