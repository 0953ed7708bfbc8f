/**
 * The JSON parser for record values from Kafka: one pass that builds the value and enforces the pipeline's limits on
 * the way, so a hostile record is refused with a reason instead of costing a stack, a batch or a value.
 *
 * What `JSON.parse` does not do and this does: refuses duplicate keys (which value counts would be a guess) and
 * `NaN`/`Infinity` literals with a clear reason; bounds nesting depth, string length, the number of fields and field
 * names (length, control characters, empty, lone surrogates) while parsing, stopping at the first violation; keeps
 * integers beyond ±2^53 exact (`bigint`); reports numbers no column type can hold (`1e400`, `1e-400`, lone surrogates
 * in strings) per field instead of turning them into `null`/`0`/U+FFFD; and stores a `__proto__` key as a field like
 * any other. Recursion is bounded by `maxDepth`, so no input reaches the stack limit.
 */
import { setOwn } from './bare-object.ts';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays (the record itself is level 1). */
  maxDepth: number;
  /** Longest string value, in UTF-16 code units. */
  maxStringLength: number;
  /** Most object members in the whole value, at every level. */
  maxFields: number;
  /** Longest field name, in UTF-16 code units. */
  maxFieldNameLength: number;
}

/** The value cannot be taken: `malformed` (not JSON, or ambiguous JSON) or over a `limit`. */
export class JsonRecordError extends Error {
  constructor(
    readonly kind: 'malformed' | 'limit',
    message: string,
  ) {
    super(message);
    this.name = 'JsonRecordError';
  }
}

export interface ParsedJson {
  value: unknown;
  /** Values that no column type can hold, one message per field (`field 'a.b': …`); those values are null. */
  problems: string[];
}

export interface ParseOptions {
  /** Top-level fields whose string values are exempt from `maxStringLength` (claim-checked binaries). */
  longStringFields?: ReadonlySet<string>;
}

/** Control characters (C0, DEL, C1) are not allowed in field names: they break tools that print or quote names. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}
/** Significant digits beyond which an integer is larger than any double (Number.MAX_VALUE has 309 digits). */
const MAX_INTEGER_DIGITS = 309;

const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Where a field sits, as the converter names it: `a.b`, `list[3].c`. */
function pathText(path: (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(record)';
}

/**
 * A short excerpt of a text for a message that is itself stored (`_errors`, `_reasons` are Parquet strings): never
 * splits a surrogate pair, and a lone surrogate becomes U+FFFD.
 */
export function excerpt(text: string, max = 40): string {
  let out = text;
  if (text.length > max) {
    const last = text.charCodeAt(max - 1);
    out = `${text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)}…`;
  }
  return (out as unknown as { toWellFormed(): string }).toWellFormed();
}

const clip = excerpt;

/** Parses `text` under `limits`; throws `JsonRecordError` for malformed or over-limit input. */
export function parseJsonStrict(text: string, limits: JsonLimits, options: ParseOptions = {}): ParsedJson {
  let i = 0;
  let fields = 0;
  const problems: string[] = [];
  const path: (string | number)[] = [];
  const longStringFields = options.longStringFields;
  const n = text.length;

  const malformed = (what: string): never => {
    throw new JsonRecordError('malformed', `${what} at position ${i}`);
  };

  function skipWhitespace(): void {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  }

  function parseString(): string {
    // i is at the opening quote
    const start = ++i;
    // Fast path: no escapes — one slice.
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) return text.slice(start, i++);
      if (c === 0x5c) break;
      if (c < 0x20) malformed('control character in a string (must be escaped)');
      i++;
    }
    let out = text.slice(start, i);
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) malformed('control character in a string (must be escaped)');
      if (c !== 0x5c) {
        const runStart = i;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === 0x22 || d === 0x5c || d < 0x20) break;
          i++;
        }
        out += text.slice(runStart, i);
        continue;
      }
      const e = text.charCodeAt(i + 1);
      i += 2;
      switch (e) {
        case 0x22:
          out += '"';
          break;
        case 0x5c:
          out += '\\';
          break;
        case 0x2f:
          out += '/';
          break;
        case 0x62:
          out += '\b';
          break;
        case 0x66:
          out += '\f';
          break;
        case 0x6e:
          out += '\n';
          break;
        case 0x72:
          out += '\r';
          break;
        case 0x74:
          out += '\t';
          break;
        case 0x75: {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            i -= 2;
            malformed('invalid \\u escape');
          }
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          i -= 2;
          malformed('invalid escape in a string');
      }
    }
    return malformed('unterminated string');
  }

  function parseNumber(): number | bigint | null {
    const start = i;
    if (text.charCodeAt(i) === 0x2d) i++;
    const intStart = i;
    const first = text.charCodeAt(i);
    if (first === 0x49) malformed('Infinity is not a JSON number');
    if (first === 0x30) i++;
    else if (first >= 0x31 && first <= 0x39) while (i < n && isDigit(text.charCodeAt(i))) i++;
    else malformed('invalid number');
    const intDigits = i - intStart;
    let integer = true;
    if (text.charCodeAt(i) === 0x2e) {
      integer = false;
      i++;
      const fracStart = i;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (i === fracStart) malformed('invalid number (no digits after the decimal point)');
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      i++;
      const sign = text.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      const expStart = i;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (i === expStart) malformed('invalid number (no digits in the exponent)');
    }
    const literal = text.slice(start, i);
    if (integer) {
      // 15 digits always fit a double exactly; longer ones are checked and kept exact as bigint.
      if (intDigits <= 15) return Number(literal);
      if (intDigits > MAX_INTEGER_DIGITS) return outOfRange(literal, 'is outside the range of every numeric type');
      const value = Number(literal);
      return Number.isSafeInteger(value) && BigInt(literal) === BigInt(value) ? value : BigInt(literal);
    }
    const value = Number(literal);
    if (!Number.isFinite(value)) return outOfRange(literal, 'is outside the range of a double');
    if (value === 0 && /[1-9]/.test(literal.replace(/[eE].*$/, '')))
      return outOfRange(literal, 'is too small for a double (it would become 0)');
    return value;
  }

  function outOfRange(literal: string, what: string): null {
    problems.push(`field '${pathText(path)}': number ${clip(literal)} ${what}`);
    return null;
  }

  function checkName(name: string): void {
    const where = path.length ? ` in '${clip(pathText(path), 80)}'` : '';
    if (name.length === 0) throw new JsonRecordError('limit', `an empty field name${where}`);
    if (name.length > limits.maxFieldNameLength) {
      throw new JsonRecordError(
        'limit',
        `field name '${clip(name)}'${where} is ${name.length} characters long, over limits.maxFieldNameLength (${limits.maxFieldNameLength})`,
      );
    }
    if (hasControlCharacter(name))
      throw new JsonRecordError(
        'limit',
        `field name ${JSON.stringify(clip(name))}${where} contains control characters`,
      );
    if (!isWellFormed(name))
      throw new JsonRecordError(
        'limit',
        `field name ${JSON.stringify(clip(name))}${where} contains a lone surrogate (not Unicode text)`,
      );
  }

  function parseValue(depth: number): unknown {
    skipWhitespace();
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x7b: {
        // {
        if (depth >= limits.maxDepth)
          throw new JsonRecordError(
            'limit',
            `nesting deeper than limits.maxDepth (${limits.maxDepth}) at '${clip(pathText(path), 80)}'`,
          );
        i++;
        const object: Record<string, unknown> = {};
        skipWhitespace();
        if (text.charCodeAt(i) === 0x7d) {
          i++;
          return object;
        }
        for (;;) {
          skipWhitespace();
          if (text.charCodeAt(i) !== 0x22) malformed('expected a field name in double quotes');
          const name = parseString();
          checkName(name);
          if (Object.prototype.hasOwnProperty.call(object, name)) {
            throw new JsonRecordError(
              'malformed',
              `duplicate field '${clip(path.length ? `${pathText(path)}.${name}` : name, 80)}'`,
            );
          }
          if (++fields > limits.maxFields)
            throw new JsonRecordError('limit', `more than limits.maxFields (${limits.maxFields}) fields`);
          skipWhitespace();
          if (text.charCodeAt(i) !== 0x3a) malformed("expected ':' after a field name");
          i++;
          path.push(name);
          setOwn(object, name, parseMember(depth + 1, depth === 0 && longStringFields?.has(name) === true));
          path.pop();
          skipWhitespace();
          const next = text.charCodeAt(i);
          i++;
          if (next === 0x7d) return object;
          if (next !== 0x2c) {
            i--;
            malformed("expected ',' or '}'");
          }
        }
      }
      case 0x5b: {
        // [
        if (depth >= limits.maxDepth)
          throw new JsonRecordError(
            'limit',
            `nesting deeper than limits.maxDepth (${limits.maxDepth}) at '${clip(pathText(path), 80)}'`,
          );
        i++;
        const array: unknown[] = [];
        skipWhitespace();
        if (text.charCodeAt(i) === 0x5d) {
          i++;
          return array;
        }
        for (;;) {
          path.push(array.length);
          array.push(parseMember(depth + 1, false));
          path.pop();
          skipWhitespace();
          const next = text.charCodeAt(i);
          i++;
          if (next === 0x5d) return array;
          if (next !== 0x2c) {
            i--;
            malformed("expected ',' or ']'");
          }
        }
      }
      case 0x22:
        return parseString();
      case 0x74:
        return literal('true', true);
      case 0x66:
        return literal('false', false);
      case 0x6e:
        return literal('null', null);
      case 0x4e: // N
        if (text.startsWith('NaN', i)) malformed('NaN is not a JSON number');
        return malformed('unexpected character');
      case 0x49: // I
        if (text.startsWith('Infinity', i)) malformed('Infinity is not a JSON number');
        return malformed('unexpected character');
      default:
        if (c === 0x2d || isDigit(c)) return parseNumber();
        return malformed(i >= n ? 'unexpected end of input' : `unexpected character ${JSON.stringify(text[i])}`);
    }
  }

  /** A member value; strings get their length and Unicode checks here, where the path is known. */
  function parseMember(depth: number, longStringAllowed: boolean): unknown {
    const value = parseValue(depth);
    if (typeof value !== 'string') return value;
    if (!longStringAllowed && value.length > limits.maxStringLength) {
      throw new JsonRecordError(
        'limit',
        `field '${clip(pathText(path), 80)}': a string of ${value.length} characters, over limits.maxStringLength (${limits.maxStringLength})`,
      );
    }
    if (!isWellFormed(value)) {
      problems.push(`field '${pathText(path)}': the string contains a lone surrogate escape (not Unicode text)`);
      return null;
    }
    return value;
  }

  function literal(word: string, value: unknown): unknown {
    if (!text.startsWith(word, i)) malformed('unexpected character');
    i += word.length;
    return value;
  }

  const value = parseValue(0);
  skipWhitespace();
  if (i < n) malformed('unexpected data after the JSON value');
  if (typeof value === 'string' && value.length > limits.maxStringLength) {
    throw new JsonRecordError(
      'limit',
      `a string of ${value.length} characters, over limits.maxStringLength (${limits.maxStringLength})`,
    );
  }
  return { value, problems };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
