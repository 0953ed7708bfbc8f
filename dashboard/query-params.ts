/** Query and path parameters of the dashboard API, validated: a malformed value is a 400 naming the parameter. */
import { parseFilter } from '../shared/iceberg/filter-syntax.ts';
import type { Expression } from '../shared/iceberg/expressions.ts';
import { badRequest } from '../shared/lakehouse/read-errors.ts';

/** Nessie reference names (`main`, `wap/parking_entry/…`, `v1.0`), optionally pinned `name@hash`, or a bare `@hash`. */
const REF = /^(?:[A-Za-z](?:[A-Za-z0-9._/-]{0,254}[A-Za-z0-9_-])?)?(?:@[0-9a-fA-F]{8,64})?$/;
const TABLE = /^[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)+$/;

export const MAX_ROWS = 500;
export const DEFAULT_ROWS = 50;

export function refParam(value: string | null): string {
  if (value === null) return 'main';
  if (!value || value.length > 400 || !REF.test(value) || value.includes('..')) {
    throw badRequest(`malformed ref '${value.slice(0, 100)}': expected a branch or tag name, name@hash or @hash`);
  }
  return value;
}

export function tableParam(value: string): string {
  let name: string;
  try {
    name = decodeURIComponent(value);
  } catch {
    throw badRequest(`malformed table name '${value.slice(0, 100)}'`);
  }
  if (name.length > 256 || !TABLE.test(name))
    throw badRequest(
      `malformed table name '${name.slice(0, 100)}': expected namespace.table, e.g. production.parking_entry`,
    );
  return name;
}

export function limitParam(value: string | null, max = MAX_ROWS, fallback = DEFAULT_ROWS): number {
  if (value === null) return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max)
    throw badRequest(`limit must be an integer from 1 to ${max}, got '${value.slice(0, 40)}'`);
  return Number(value);
}

export function whereParam(value: string | null): Expression | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (value.length > 4000) throw badRequest('where is longer than 4000 characters');
  return parseFilter(value);
}
