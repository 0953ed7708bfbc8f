/**
 * Iceberg's single-value binary serialization (spec Appendix D), used for column bounds and partition summaries,
 * plus value comparison and bound truncation. Values use the representation documented in `types.ts`.
 */
import { decimalOf, fixedLength, IcebergFormatError } from './schema.ts';
import type { PrimitiveType } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function toBinary(type: PrimitiveType, value: unknown): Uint8Array {
  switch (type) {
    case 'boolean':
      return Uint8Array.of(value ? 1 : 0);
    case 'int':
    case 'date': {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, Number(value), true);
      return out;
    }
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns': {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigInt64(0, BigInt(value as bigint), true);
      return out;
    }
    case 'float': {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setFloat32(0, Number(value), true);
      return out;
    }
    case 'double': {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, Number(value), true);
      return out;
    }
    case 'string':
      return encoder.encode(String(value));
    case 'uuid':
      return uuidToBytes(String(value));
    case 'binary':
      return asBytes(value);
    default: {
      if (decimalOf(type)) return bigintToMinimalBytes(BigInt(value as bigint));
      if (fixedLength(type) !== undefined) return asBytes(value);
      throw new IcebergFormatError(`no binary serialization for type '${type}'`);
    }
  }
}

/**
 * Decodes a serialized value. A bound written before a type promotion is shorter than the current type's encoding
 * (a 4-byte bound on a long column was written as an int; 4 bytes on a double column as a float) and is read as such.
 */
export function fromBinary(type: PrimitiveType, bytes: Uint8Array): unknown {
  switch (type) {
    case 'boolean':
      need(type, bytes, 1);
      return bytes[0] !== 0;
    case 'int':
    case 'date':
      need(type, bytes, 4);
      return viewOf(bytes).getInt32(0, true);
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
    case 'timestamp_ns':
    case 'timestamptz_ns':
      if (bytes.byteLength === 4) return BigInt(viewOf(bytes).getInt32(0, true));
      need(type, bytes, 8);
      return viewOf(bytes).getBigInt64(0, true);
    case 'float':
      need(type, bytes, 4);
      return viewOf(bytes).getFloat32(0, true);
    case 'double':
      if (bytes.byteLength === 4) return viewOf(bytes).getFloat32(0, true);
      need(type, bytes, 8);
      return viewOf(bytes).getFloat64(0, true);
    case 'string':
      return decoder.decode(bytes);
    case 'uuid':
      need(type, bytes, 16);
      return bytesToUuid(bytes);
    case 'binary':
      return bytes;
    default:
      if (decimalOf(type)) return minimalBytesToBigint(bytes);
      if (fixedLength(type) !== undefined) return bytes;
      throw new IcebergFormatError(`no binary serialization for type '${type}'`);
  }
}

function need(type: PrimitiveType, bytes: Uint8Array, n: number): void {
  if (bytes.byteLength < n) throw new IcebergFormatError(`${type} value needs ${n} bytes, got ${bytes.byteLength}`);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new IcebergFormatError(`expected bytes, got ${typeof value}`);
}

export function uuidToBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new IcebergFormatError(`invalid uuid '${text}'`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.subarray(0, 16)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Two's-complement big-endian with the fewest bytes that keep the sign (Java `BigInteger.toByteArray`). */
export function bigintToMinimalBytes(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (true) {
    const byte = Number(BigInt.asUintN(8, v));
    bytes.unshift(byte);
    v >>= 8n;
    const signBit = (byte & 0x80) !== 0;
    if ((v === 0n && !signBit) || (v === -1n && signBit)) break;
  }
  return Uint8Array.from(bytes);
}

/** Two's-complement big-endian bytes of any length → bigint. */
export function minimalBytesToBigint(bytes: Uint8Array): bigint {
  if (bytes.byteLength === 0) return 0n;
  let v = 0n;
  for (const byte of bytes) v = (v << 8n) | BigInt(byte);
  return BigInt.asIntN(bytes.byteLength * 8, v);
}

/** Two's-complement big-endian padded to `size` bytes (Avro/Parquet fixed decimals). */
export function bigintToFixedBytes(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, value);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Bytes needed to hold any unscaled value of a decimal with this precision (spec: minimum bytes). */
export function decimalRequiredBytes(precision: number): number {
  for (let bytes = 1; bytes <= 16; bytes++) {
    if (2 ** (8 * bytes - 1) > 10 ** precision) return bytes;
  }
  return 16;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.byteLength - b.byteLength;
}

/** Compares strings by Unicode code point (= UTF-8 byte order, as Parquet and Iceberg do), not UTF-16 units. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Orders two non-null values of one type. Floats order −0.0 before +0.0; NaN sorts last. */
export function compareValues(type: PrimitiveType, a: unknown, b: unknown): number {
  switch (type) {
    case 'boolean':
      return Number(a) - Number(b);
    case 'string':
      return compareStrings(a as string, b as string);
    case 'uuid':
      return compareBytes(uuidToBytes(a as string), uuidToBytes(b as string));
    case 'binary':
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case 'float':
    case 'double': {
      const x = a as number;
      const y = b as number;
      if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
      if (x === 0 && y === 0) return (Object.is(x, -0) ? 0 : 1) - (Object.is(y, -0) ? 0 : 1);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default: {
      if (fixedLength(type) !== undefined) return compareBytes(a as Uint8Array, b as Uint8Array);
      const x = a as number | bigint;
      const y = b as number | bigint;
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}

/** A lower bound of at most `length` code points (strings) or bytes (binary): a prefix is always ≤ the value. */
export function truncateLowerBound(type: PrimitiveType, value: unknown, length: number): unknown {
  if (type === 'string') {
    const points = Array.from(value as string);
    return points.length <= length ? value : points.slice(0, length).join('');
  }
  if (type === 'binary') {
    const bytes = value as Uint8Array;
    return bytes.byteLength <= length ? bytes : bytes.slice(0, length);
  }
  return value;
}

/**
 * An upper bound of at most `length` code points or bytes: the prefix with its last code point (byte) incremented,
 * so it is ≥ every value sharing the prefix. `undefined` when no such bound exists (all code points at the maximum).
 */
export function truncateUpperBound(type: PrimitiveType, value: unknown, length: number): unknown {
  if (type === 'string') {
    const points = Array.from(value as string);
    if (points.length <= length) return value;
    const prefix = points.slice(0, length).map((c) => c.codePointAt(0)!);
    for (let i = prefix.length - 1; i >= 0; i--) {
      let next = prefix[i] + 1;
      if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // skip surrogates: they are not valid code points
      if (next <= 0x10ffff) return String.fromCodePoint(...prefix.slice(0, i), next);
    }
    return undefined;
  }
  if (type === 'binary') {
    const bytes = value as Uint8Array;
    if (bytes.byteLength <= length) return bytes;
    const prefix = bytes.slice(0, length);
    for (let i = prefix.length - 1; i >= 0; i--) {
      if (prefix[i] < 0xff) {
        const out = prefix.slice(0, i + 1);
        out[i]++;
        return out;
      }
    }
    return undefined;
  }
  return value;
}
