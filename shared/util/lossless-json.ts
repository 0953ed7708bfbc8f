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
 * another character and so do not send the text down the marking path; one that matches only costs time.
 */
const MAYBE_UNSAFE_NUMBER = /(?:^|[:,[])\s*-?\d{16}/;
/** A valid JSON integer token (leading zeros are not valid JSON: such text is left for JSON.parse to reject). */
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
/** Parsed strings can hold U+0000 only if the text spells it as an escape. */
const ESCAPED_NUL = /\\u0000/i;
const decoder = new TextDecoder();

/**
 * Parses JSON; integers beyond ±2^53 come back as `bigint`. Throws `SyntaxError` on malformed input. A key given twice
 * keeps its last value, as with `JSON.parse` (and Jackson's default, so Nessie's).
 *
 * The native `JSON.parse` does the work either way: table metadata and Nessie bodies always carry 64-bit snapshot
 * ids, and lossless-json's parser, written in JavaScript, took 3.5× as long on table metadata (which every function
 * parses on every batch, and which grows with the table's snapshots). Unsafe integer tokens are rewritten to strings that start
 * with U+0000 (which no string of the text can hold, see ESCAPED_NUL) and turned back into `bigint`s after the parse.
 * A text that spells U+0000, or that JSON.parse rejects (for lossless-json's error message), takes lossless-json.
 */
export function parseJson<T = unknown>(text: string | Uint8Array): T {
  const source = typeof text === 'string' ? text : decoder.decode(text);
  if (!MAYBE_UNSAFE_NUMBER.test(source)) return JSON.parse(source) as T;
  if (ESCAPED_NUL.test(source)) return parse(source, null, parseNumber) as T;
  const { rewritten, longs } = markUnsafeIntegers(source);
  let parsed: unknown;
  try {
    parsed = JSON.parse(rewritten);
  } catch {
    return parse(source, null, parseNumber) as T;
  }
  return (longs.length ? revive(parsed, longs) : parsed) as T;
}

/** The text with each integer token JSON.parse would round replaced by `"\u0000<index>"`, and those integers. */
function markUnsafeIntegers(text: string): { rewritten: string; longs: bigint[] } {
  const longs: bigint[] = [];
  let rewritten = '';
  let copied = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string (escapes included) up to its closing quote.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        // Digits, '.', 'e', 'E', '+', '-': the whole number token, so an exponent's digits are not mistaken for one.
        if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d)) break;
      }
      const end = i;
      i--;
      // Most numbers are short: only a token of 16+ characters is cut out and looked at.
      if (end - start < 16) continue;
      const token = text.slice(start, end);
      if (INTEGER.test(token) && !isSafeNumber(token)) {
        rewritten += `${text.slice(copied, start)}"\\u0000${longs.length}"`;
        copied = end;
        longs.push(BigInt(token));
      }
    }
  }
  return { rewritten: copied ? rewritten + text.slice(copied) : text, longs };
}

/**
 * Puts the `bigint`s back in place of their markers. A walk of its own rather than a `JSON.parse` reviver, which costs
 * more than the parse itself (it is called for every value and redefines every property).
 */
function revive(value: unknown, longs: bigint[]): unknown {
  if (typeof value === 'string') return value.charCodeAt(0) === 0 ? longs[Number(value.slice(1))] : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], longs);
    return value;
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const item = object[key];
    const revived = revive(item, longs);
    if (revived === item) continue;
    // JSON.parse made `__proto__` an own property; assigning it would call the prototype setter instead.
    if (key === '__proto__')
      Object.defineProperty(object, key, { value: revived, writable: true, enumerable: true, configurable: true });
    else object[key] = revived;
  }
  return object;
}

/**
 * Serializes JSON; `bigint` values are written as plain JSON numbers. `undefined` properties are omitted. Without
 * indentation the text is lossless-json's, byte for byte: `JSON.stringify` where the value holds no bigint, a walk of
 * our own that writes bigints as numbers for plain data, lossless-json for objects with a prototype of their own or a
 * `toJSON`. Indented text is `JSON.stringify`'s layout (lossless-json's differs only where it skips a property).
 */
export function stringifyJson(value: unknown, space?: number): string {
  const text =
    space !== undefined ? indented(value, space) : plainJson(value, 0) ? JSON.stringify(value) : write(value);
  if (text === undefined) throw new TypeError('value is not serializable to JSON');
  return text;
}

/**
 * Indented text (table metadata is written indented, as Java writes it): `JSON.stringify` writes each bigint as a
 * string marked with a leading U+0000, and the marks are then unquoted. A key or string of the value's own that holds
 * U+0000 could pass for (or hold) a mark, and a LosslessNumber has a text of its own: those take lossless-json.
 */
function indented(value: unknown, space: number): string | undefined {
  let own = false;
  const text = JSON.stringify(
    value,
    (key: string, item: unknown) => {
      if (key.includes('\u0000')) own = true;
      if (typeof item === 'bigint') return `\u0000${item}`;
      if ((typeof item === 'string' && item.includes('\u0000')) || isLosslessNumber(item)) own = true;
      return item;
    },
    space,
  );
  if (own) return stringify(value as never, undefined, space);
  return text === undefined ? undefined : text.replace(MARKED_LONG, '$1');
}

const MARKED_LONG = /"\\u0000(-?\d+)"/g;

function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const item: unknown = value[i];
          out += (typeof item === 'function' ? undefined : write(item)) ?? 'null';
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (
        (proto !== Object.prototype && proto !== null) ||
        typeof (value as { toJSON?: unknown }).toJSON === 'function'
      )
        return plainJson(value, 0) ? JSON.stringify(value) : stringify(value as never);
      let out = '{';
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (typeof item === 'function') continue;
        const text = write(item);
        if (text === undefined) continue;
        out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${text}`;
      }
      return `${out}}`;
    }
    default:
      // undefined and symbols have no JSON representation.
      return undefined;
  }
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
