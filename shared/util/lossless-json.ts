/**
 * JSON that keeps 64-bit integers exact.
 *
 * Iceberg snapshot ids and Kafka offsets are longs that routinely exceed 2^53; `JSON.parse` silently rounds them.
 * Every JSON document that may carry such ids (table metadata, Nessie REST bodies, event payloads) goes through
 * `parseJson`/`stringifyJson`: integers outside the safe range become `bigint`, everything else stays a plain number,
 * and `bigint` values are written back as bare JSON numbers.
 */
import { parse, stringify, isLosslessNumber, isSafeNumber } from 'lossless-json';

function parseNumber(text: string): number | bigint {
  if (/^-?\d+$/.test(text) && !isSafeNumber(text)) return BigInt(text);
  return Number(text);
}

/**
 * An integer JSON.parse could round has 16+ digits (2^53 has 16), right after the start of the text, `:`, `,` or `[`
 * (whitespace and a minus sign between). Digit runs inside strings (hex digests, base64) mostly follow a letter or
 * another character and so do not send the text down the slow path; one that matches only costs time, not exactness.
 */
const MAYBE_UNSAFE_NUMBER = /(?:^|[:,[])\s*-?\d{16}/;
const decoder = new TextDecoder();

/** Parses JSON; integers beyond ±2^53 come back as `bigint`. Throws `SyntaxError` on malformed input. */
export function parseJson<T = unknown>(text: string | Uint8Array): T {
  const source = typeof text === 'string' ? text : decoder.decode(text);
  // Fast path (~10× faster): without a long digit run no number can lose precision, and the results are identical.
  if (!MAYBE_UNSAFE_NUMBER.test(source)) return JSON.parse(source) as T;
  return parse(source, null, parseNumber) as T;
}

/** Serializes JSON; `bigint` values are written as plain JSON numbers. `undefined` properties are omitted. */
export function stringifyJson(value: unknown, space?: number): string {
  // Fast path (~3× faster on records carrying base64 bytes): JSON.stringify writes the same text for a value with no
  // bigint and no toJSON other than Date's.
  const text =
    space === undefined && plainJson(value, 0) ? JSON.stringify(value) : stringify(value as never, undefined, space);
  if (text === undefined) throw new TypeError('value is not serializable to JSON');
  return text;
}

/** Deeper values (or a cycle) take the lossless serializer, which also reports a cycle. */
const PLAIN_MAX_DEPTH = 64;

/** True when the value holds no `bigint`, no LosslessNumber and no object with a `toJSON` (a Date's excepted). */
function plainJson(value: unknown, depth: number): boolean {
  if (typeof value === 'bigint') return false;
  if (value === null || typeof value !== 'object') return true;
  if (depth >= PLAIN_MAX_DEPTH) return false;
  if (value instanceof Date) return true;
  if (isLosslessNumber(value)) return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!plainJson(item, depth + 1)) return false;
    return true;
  }
  for (const key in value) {
    if (Object.hasOwn(value, key) && !plainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** A 64-bit integer from a JSON value that may have been parsed as number, bigint or decimal string. */
export function toLong(value: unknown, what = 'value'): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${what} is not a 64-bit integer: ${String(value)}`);
}
