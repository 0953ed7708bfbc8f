/**
 * The server's JSON on its hot paths (request bodies, responses, log records, commit hashes), with exactly the results
 * of `parseJson`/`stringifyJson` (shared/util/lossless-json.ts) — 64-bit integers beyond ±2^53 as `bigint` — at a
 * fraction of their cost. Every commit carries Iceberg snapshot ids, which are such integers, so the shared parser
 * always takes its slow path (a JSON parser written in JavaScript); here the native `JSON.parse` does the work.
 */
import { isSafeNumber } from 'lossless-json';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';

/** A run of 16+ digits is the only way to spell a number JSON.parse could round (2^53 has 16 digits). */
const MAYBE_UNSAFE_NUMBER = /\d{16}/;
/** A valid JSON integer token (leading zeros are not valid JSON: such text is left for JSON.parse to reject). */
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
/** Parsed strings can hold U+0000 only if the text spells it as an escape. */
const ESCAPED_NUL = /\\u0000/i;

/**
 * Parses JSON like `parseJson`: integers outside the safe range become `bigint`. Those integer tokens are rewritten to
 * strings that start with U+0000 (which no string of the text can, see ESCAPED_NUL), and those strings in the result
 * of `JSON.parse` are turned back into `bigint`s. Malformed text is handed to `parseJson`, so errors read the same. A key given twice keeps
 * its last value, as with `JSON.parse` and Jackson's default in Nessie (lossless-json's parser would reject it).
 */
export function parseJsonText<T = unknown>(text: string): T {
  if (!MAYBE_UNSAFE_NUMBER.test(text)) return JSON.parse(text) as T;
  if (ESCAPED_NUL.test(text)) return parseJson<T>(text);
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
      const token = text.slice(start, i);
      i--;
      if (token.length >= 16 && INTEGER.test(token) && !isSafeNumber(token)) {
        rewritten += `${text.slice(copied, start)}"\\u0000${longs.length}"`;
        copied = start + token.length;
        longs.push(BigInt(token));
      }
    }
  }
  rewritten += text.slice(copied);
  let parsed: unknown;
  try {
    parsed = JSON.parse(longs.length ? rewritten : text);
  } catch {
    return parseJson<T>(text);
  }
  return (longs.length ? revive(parsed, longs) : parsed) as T;
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

/** Like `stringifyJson(value)` (no indentation), byte for byte; anything but plain data is left to it. */
export function toJson(value: unknown): string {
  const text = write(value);
  if (text === undefined) throw new TypeError('value is not serializable to JSON');
  return text;
}

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
        return stringifyJson(value);
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
