/**
 * The audit rules: each staging row is checked against its table's rules and either trusted or untrusted with the
 * reasons why; then the batch as a whole gets a verdict from the gate (share of untrusted rows).
 */
import type { AuditRules } from '../runtime/pipeline-config.ts';
import { ownValue } from '../util/bare-object.ts';
import { stringifyJson } from '../util/lossless-json.ts';
import { excerpt } from '../util/strict-json.ts';
import { Column } from '../wap/staging-rows.ts';

export interface RowVerdict {
  row: Record<string, unknown>;
  reasons: string[];
}

export interface AuditInput {
  rows: Record<string, unknown>[];
  rules: AuditRules;
  /** Payload field holding the event time (µs bigint in the row), for timestamp sanity. */
  eventTime?: string;
  /** Now in µs since epoch. */
  nowMicros: bigint;
  /** Keys of `unique` rules already published, per rule name (`uniqueName`): rows repeating them are duplicates. */
  published?: Map<string, Set<string>>;
}

export interface AuditResult {
  trusted: Record<string, unknown>[];
  untrusted: RowVerdict[];
  /** Untrusted row count per reason kind (the text before the first ':'). */
  reasonCounts: Record<string, number>;
}

/** Any value as text; struct values are bare objects (no `toString`), so they are shown as JSON. */
function text(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof Map) return text(Object.fromEntries(value));
  if (typeof value === 'object' && value !== null) {
    try {
      return stringifyJson(value);
    } catch {
      return '(a value that cannot be shown)';
    }
  }
  return String(value);
}

const show = (v: unknown) => (typeof v === 'string' ? `'${excerpt(v, 60)}'` : excerpt(text(v), 200));

/** A comparable text form of a unique key's values (numbers and bigints compare by value). */
export function uniqueKey(values: unknown[]): string {
  return values.map(text).join('\u0000');
}

/** The reason a row repeating a `unique` key gets (the publisher gives the same to a key a concurrent batch published first). */
export function duplicateReason(fields: string[], values: unknown[]): string {
  return `duplicate: ${fields.map((f, i) => `${f}=${show(values[i])}`).join(', ')} already seen`;
}

/** Errors the writer recorded with their kind already (`malformed: …`, `limit: …`); others are type conversions. */
const KINDED_ERROR = /^(malformed|limit):/;

/** How a unique rule is named in reasons and maps: `event_id`, or `sensor_id+timestamp`. */
export function uniqueName(fields: string[]): string {
  return fields.join('+');
}

function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

export function auditRows(input: AuditInput): AuditResult {
  const { rules } = input;
  const seen = new Map<string, Set<string>>(
    rules.unique.map((fields) => [uniqueName(fields), new Set(input.published?.get(uniqueName(fields)) ?? [])]),
  );
  const trusted: Record<string, unknown>[] = [];
  const untrusted: RowVerdict[] = [];
  const reasonCounts: Record<string, number> = {};

  // Kafka order within a partition decides which of two duplicates is the original.
  const ordered = [...input.rows].sort((a, b) => {
    const p = (a[Column.partition] as number) - (b[Column.partition] as number);
    return p !== 0 ? p : Number((a[Column.offset] as bigint) - (b[Column.offset] as bigint));
  });

  for (const row of ordered) {
    let reasons: string[] = [];
    try {
      reasons = judge(row);
    } catch (err) {
      // A value the rules cannot handle is that row's problem: it is untrusted with the reason, the batch goes on.
      reasons = [`audit: the rules could not be applied: ${(err as Error).message}`];
    }
    if (reasons.length) {
      untrusted.push({ row, reasons });
      for (const reason of new Set(reasons.map((r) => r.slice(0, r.indexOf(':') > 0 ? r.indexOf(':') : r.length)))) {
        reasonCounts[reason] = (reasonCounts[reason] ?? 0) + 1;
      }
    } else {
      trusted.push(row);
    }
  }
  return { trusted, untrusted, reasonCounts };

  function judge(row: Record<string, unknown>): string[] {
    const reasons: string[] = [];
    // Fields are read as own properties: a rule on `constructor` must not see Object.prototype's.
    const get = (field: string) => ownValue(row, field);
    let payloadStored = get(Column.status) === 'ok';
    for (const error of (get(Column.errors) as string[] | null) ?? []) {
      const kind = KINDED_ERROR.exec(error)?.[1];
      reasons.push(kind ? error : `type: ${error}`);
      // A record over a limit was stored without its fields: judging them would only add noise.
      if (kind === 'limit') payloadStored = false;
    }
    if (payloadStored) {
      // A value nulled because it had the wrong type is reported as that, not again as missing.
      const mistyped = new Set(reasons.map((r) => /field '([^'.[]+)/.exec(r)?.[1]).filter(Boolean));
      for (const field of rules.required) {
        if ((get(field) === null || get(field) === undefined) && !mistyped.has(field))
          reasons.push(`required: ${field} is missing or null`);
      }
      for (const [field, range] of Object.entries(rules.ranges)) {
        const value = get(field);
        if (value === null || value === undefined) continue;
        const n = numeric(value);
        if (n === undefined || Number.isNaN(n)) reasons.push(`range: ${field}=${show(value)} is not a number`);
        else if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
          reasons.push(`range: ${field}=${n} outside [${range.min ?? '-∞'}, ${range.max ?? '∞'}]`);
        }
      }
      for (const [field, allowed] of Object.entries(rules.enums)) {
        const value = get(field);
        if (value === null || value === undefined) continue;
        const plain = typeof value === 'bigint' ? Number(value) : value;
        if (!allowed.some((a) => a === plain))
          reasons.push(`enum: ${field}=${show(value)} not in [${allowed.map(show).join(', ')}]`);
      }
      if (input.eventTime) {
        const t = get(input.eventTime);
        if (typeof t === 'bigint') {
          if (t > input.nowMicros + BigInt(rules.maxFutureSkew) * 1000n)
            reasons.push(`timestamp: ${input.eventTime} is in the future`);
          else if (t < input.nowMicros - BigInt(rules.maxAge) * 1000n)
            reasons.push(`timestamp: ${input.eventTime} is older than the allowed age`);
        }
      }
      for (const fields of rules.unique) {
        const values = fields.map(get);
        if (values.some((v) => v === null || v === undefined)) continue;
        const key = uniqueKey(values);
        const known = seen.get(uniqueName(fields))!;
        if (known.has(key)) reasons.push(duplicateReason(fields, values));
        else known.add(key);
      }
    }
    return reasons;
  }
}

export interface Verdict {
  verdict: 'passed' | 'failed';
  reason?: string;
}

/** The batch gate: fails a batch (of at least `minRows`) whose untrusted share exceeds the threshold. */
export function batchVerdict(total: number, untrusted: number, maxUntrustedRatio: number, minRows = 0): Verdict {
  if (total === 0 || total < minRows) return { verdict: 'passed' };
  const ratio = untrusted / total;
  if (ratio > maxUntrustedRatio) {
    return {
      verdict: 'failed',
      reason: `batch: untrusted ratio ${ratio.toFixed(3)} exceeds the gate ${maxUntrustedRatio}`,
    };
  }
  return { verdict: 'passed' };
}
