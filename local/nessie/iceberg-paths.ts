/**
 * The path parameters of the Iceberg REST endpoint, read as real Nessie reads them: the `prefix` names a Nessie
 * reference and a warehouse as `{ref}|{warehouse}` (URL-encoded, e.g. `main%7Cwarehouse`; the unit separator U+001F
 * may stand for `/` in a reference name), a namespace is its levels joined by U+001F (`%1F` in a URL), and a table
 * name may carry its own reference as `name@ref#hash`.
 */
import { badRequest } from './iceberg-errors.ts';

/** The one warehouse floe's Nessie knows: its name in prefixes and `?warehouse=`, and where its tables live. */
export interface IcebergWarehouse {
  name: string;
  /** `file:///…/` or `s3://bucket/…/`; unknown when the server was started without one. */
  location?: string;
}

export const NAMESPACE_SEPARATOR = '\u001f';

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`Malformed URL encoding in '${segment}'`);
  }
}

/**
 * Matches a warehouse given by a client, by name or by location (the REST API lets clients use either); undefined
 * and empty mean the default one.
 */
export function resolveWarehouse(warehouse: IcebergWarehouse, given: string | undefined): IcebergWarehouse {
  if (given === undefined || given === '' || given === warehouse.name) return warehouse;
  const trim = (location: string) => location.replace(/\/+$/, '');
  if (warehouse.location !== undefined && trim(given) === trim(warehouse.location)) return warehouse;
  throw badRequest(`Warehouse '${given}' is not known: this server has only '${warehouse.name}'`);
}

export interface DecodedPrefix {
  /** A reference path element for resolveRef (`main`, `wap/t/b`, `main@<hash>`); undefined: the default branch. */
  ref?: string;
  warehouse: IcebergWarehouse;
}

/** The `{prefix}` path segment, still URL-encoded. */
export function decodePrefix(rawSegment: string, warehouse: IcebergWarehouse): DecodedPrefix {
  const text = decodeSegment(rawSegment).replaceAll(NAMESPACE_SEPARATOR, '/');
  const bar = text.indexOf('|');
  const ref = bar < 0 ? text : text.slice(0, bar);
  const given = bar < 0 ? undefined : text.slice(bar + 1);
  return { ref: ref === '' || ref === '-' ? undefined : ref, warehouse: resolveWarehouse(warehouse, given) };
}

/** A namespace's levels from a path segment (URL-encoded) or an already decoded query parameter. */
export function decodeNamespace(text: string, encoded: boolean): string[] {
  const levels = (encoded ? decodeSegment(text) : text).split(NAMESPACE_SEPARATOR);
  if (levels.some((level) => level === '')) throw badRequest(`Invalid namespace '${text}': a level is empty`);
  return levels;
}

/** `name`, `name@ref`, `name#hash`, `name@ref#hash` (Nessie's table reference syntax). */
export function parseTableName(text: string): { name: string; ref?: string; hash?: string } {
  const match = /^([^@#]+)(?:@([^@#]+))?(?:#([^@#]+))?$/.exec(text);
  if (!match)
    throw badRequest(`Illegal table reference '${text}': expected name, name@ref, name#hash or name@ref#hash`);
  return { name: match[1], ref: match[2], hash: match[3] };
}

/** The prefix of a reference and warehouse as the config endpoint hands it out: one URL-encoded path segment. */
export function encodePrefix(branch: string, warehouseName: string | undefined): string {
  return encodeURIComponent(warehouseName === undefined ? branch : `${branch}|${warehouseName}`);
}
