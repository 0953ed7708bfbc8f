/**
 * Iceberg values as people and JSON consumers expect them: timestamps as ISO-8601, dates as `yyyy-mm-dd`, decimals
 * as exact decimal strings, binaries as base64, maps as objects; 64-bit integers stay exact (bigint, serialized by
 * `stringifyJson` as bare numbers).
 */
import { decimalOf, isList, isMap, isPrimitive, isStruct } from './schema.ts';
import { bigDecimalString } from './transforms.ts';
import type { IcebergType, StructType } from './types.ts';
import { bareObject } from '../util/bare-object.ts';

function isoMicros(micros: bigint, zone: boolean): string {
  const ms = micros / 1000n;
  const rest = micros % 1000n;
  const base = new Date(Number(ms)).toISOString();
  const fraction =
    rest === 0n
      ? base.slice(19, 23)
      : `${base.slice(19, 23)}${String(rest < 0n ? rest + 1000n : rest).padStart(3, '0')}`;
  return `${base.slice(0, 19)}${fraction}${zone ? 'Z' : ''}`;
}

export function displayValue(type: IcebergType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isPrimitive(type)) {
    switch (type) {
      case 'timestamptz':
        return isoMicros(value as bigint, true);
      case 'timestamp':
        return isoMicros(value as bigint, false);
      case 'timestamptz_ns':
      case 'timestamp_ns':
        return isoMicros((value as bigint) / 1000n, type === 'timestamptz_ns');
      case 'date':
        return new Date((value as number) * 86_400_000).toISOString().slice(0, 10);
      case 'time':
        return new Date(Number((value as bigint) / 1000n)).toISOString().slice(11, 23);
      case 'binary':
        return Buffer.from(value as Uint8Array).toString('base64');
      default: {
        const decimal = decimalOf(type);
        if (decimal) return bigDecimalString(value as bigint, decimal.scale);
        if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
        if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
        return value;
      }
    }
  }
  if (isStruct(type)) return displayRow(type, value as Record<string, unknown>);
  if (isList(type)) return (value as unknown[]).map((v) => displayValue(type.element, v));
  if (isMap(type)) {
    const out = bareObject();
    for (const [k, v] of value as Map<unknown, unknown>)
      out[String(displayValue(type.key, k))] = displayValue(type.value, v);
    return out;
  }
  return value;
}

/** A row with every column converted by `displayValue` (columns missing from the struct are passed through). */
export function displayRow(struct: StructType, row: Record<string, unknown>): Record<string, unknown> {
  const out = bareObject();
  const byName = new Map(struct.fields.map((f) => [f.name, f]));
  for (const [name, value] of Object.entries(row)) {
    const field = byName.get(name);
    out[name] = field ? displayValue(field.type, value) : value;
  }
  return out;
}
