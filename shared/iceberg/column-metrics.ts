/**
 * Column metrics of a data file (`data_file` value/null/NaN counts and lower/upper bounds) and the metrics modes
 * that control them, as Iceberg Java's `MetricsConfig` reads them from table properties:
 *
 * - `write.metadata.metrics.default`: `none | counts | truncate(N) | full` (default `truncate(16)`);
 * - `write.metadata.metrics.column.<dotted column name>`: per-column override (list elements are `a.element`, map
 *   keys/values `m.key` / `m.value`, as Java's `Schema.findColumnName` spells them);
 * - `write.metadata.metrics.max-inferred-column-defaults` (100): with no explicit default and more top-level columns
 *   than this, only the first N top-level columns (and everything nested in them) get `truncate(16)`; the rest `none`.
 *
 * What is collected where, following Java (`ParquetUtil.footerMetrics`): value and null counts for every primitive
 * leaf, including list elements and map keys/values (one Dremel entry per slot: a null or empty parent counts one
 * null for each leaf below it); NaN counts for every float/double leaf; bounds only for leaves reached through structs
 * alone — Java skips bounds inside lists and maps (`shouldStoreBounds`), and so do we. Bounds never include null or
 * NaN; floats order −0.0 before +0.0. `truncate(N)` cuts string bounds to N code points and binary/fixed bounds to N
 * bytes; the upper bound is rounded up (last code point / byte incremented) or dropped when no such bound exists.
 * A mode that a table property spells wrongly is an error (Java logs a warning and falls back to the default).
 */
import { compareStrings, toBinary, truncateLowerBound, truncateUpperBound } from './conversions.ts';
import { fixedLength, IcebergFormatError, indexById } from './schema.ts';
import type { DataFile, PrimitiveType, Schema } from './types.ts';

export type MetricsMode =
  { kind: 'none' } | { kind: 'counts' } | { kind: 'truncate'; length: number } | { kind: 'full' };

export const DEFAULT_METRICS_MODE: MetricsMode = { kind: 'truncate', length: 16 };
export const METRICS_DEFAULT_PROPERTY = 'write.metadata.metrics.default';
export const METRICS_COLUMN_PREFIX = 'write.metadata.metrics.column.';
export const METRICS_MAX_INFERRED_PROPERTY = 'write.metadata.metrics.max-inferred-column-defaults';
const DEFAULT_MAX_INFERRED_COLUMNS = 100;

/** The metric fields of a `DataFile` that writing a file produces. */
export type DataFileMetrics = Pick<
  DataFile,
  | 'recordCount'
  | 'fileSizeInBytes'
  | 'columnSizes'
  | 'valueCounts'
  | 'nullValueCounts'
  | 'nanValueCounts'
  | 'lowerBounds'
  | 'upperBounds'
  | 'splitOffsets'
>;

export function parseMetricsMode(text: string, what = 'metrics mode'): MetricsMode {
  const mode = text.trim().toLowerCase();
  if (mode === 'none' || mode === 'counts' || mode === 'full') return { kind: mode };
  const truncate = /^truncate\((\d+)\)$/.exec(mode);
  if (truncate) {
    const length = Number(truncate[1]);
    if (length > 0) return { kind: 'truncate', length };
  }
  throw new IcebergFormatError(`invalid ${what} '${text}': expected none, counts, truncate(N) with N > 0, or full`);
}

/** The metrics mode of every field id of `schema` under the given table properties. */
export function metricsModes(schema: Schema, properties: Record<string, string> = {}): Map<number, MetricsMode> {
  const index = indexById(schema);
  const configured = properties[METRICS_DEFAULT_PROPERTY];
  let defaultMode =
    configured !== undefined ? parseMetricsMode(configured, METRICS_DEFAULT_PROPERTY) : DEFAULT_METRICS_MODE;
  const inferred = new Set<number>();
  const maxText = properties[METRICS_MAX_INFERRED_PROPERTY];
  const maxInferred = maxText !== undefined ? Number(maxText) : DEFAULT_MAX_INFERRED_COLUMNS;
  if (!Number.isInteger(maxInferred) || maxInferred < 0) {
    throw new IcebergFormatError(
      `invalid ${METRICS_MAX_INFERRED_PROPERTY} '${maxText}': expected a non-negative integer`,
    );
  }
  if (configured === undefined && schema.fields.length > maxInferred) {
    const kept = new Set(schema.fields.slice(0, maxInferred).map((f) => f.name));
    for (const [id, field] of index) if (kept.has(field.path[0])) inferred.add(id);
    defaultMode = { kind: 'none' };
  }
  const overrides = new Map<string, MetricsMode>();
  for (const [key, value] of Object.entries(properties)) {
    if (key.startsWith(METRICS_COLUMN_PREFIX))
      overrides.set(key.slice(METRICS_COLUMN_PREFIX.length), parseMetricsMode(value, key));
  }
  const modes = new Map<number, MetricsMode>();
  for (const [id, field] of index) {
    const name = field.path.join('.');
    modes.set(id, overrides.get(name) ?? (inferred.has(id) ? DEFAULT_METRICS_MODE : defaultMode));
  }
  return modes;
}

/** Running metrics of one primitive leaf column. */
export interface LeafMetrics {
  id: number;
  type: PrimitiveType;
  mode: MetricsMode;
  /** Whether bounds are kept for this leaf (mode allows it and the leaf is not inside a list or map). */
  bounds: boolean;
  values: number;
  nulls: number;
  nans: number;
  min: unknown;
  max: unknown;
  /** Records one non-null value (counted, checked for NaN, folded into min/max); uuids are observed as 16 bytes. */
  observe(value: unknown): void;
}

export function leafMetrics(id: number, type: PrimitiveType, mode: MetricsMode, insideRepeated: boolean): LeafMetrics {
  const bounds = !insideRepeated && (mode.kind === 'truncate' || mode.kind === 'full');
  const leaf: LeafMetrics = {
    id,
    type,
    mode,
    bounds,
    values: 0,
    nulls: 0,
    nans: 0,
    min: undefined,
    max: undefined,
    observe: () => {},
  };
  leaf.observe = observer(leaf);
  return leaf;
}

/** Counts one null slot for each leaf (a null value, or a null/empty parent above the leaves). */
export function observeNull(leaves: LeafMetrics[]): void {
  for (const leaf of leaves) {
    leaf.values++;
    leaf.nulls++;
  }
}

function observer(leaf: LeafMetrics): (value: unknown) => void {
  const type = leaf.type;
  const isFloat = type === 'float' || type === 'double';
  if (!leaf.bounds) {
    if (!isFloat)
      return () => {
        leaf.values++;
      };
    return (value) => {
      leaf.values++;
      if (value !== value) leaf.nans++;
    };
  }
  if (isFloat) {
    return (value) => {
      leaf.values++;
      const v = value as number;
      if (v !== v) {
        leaf.nans++;
        return;
      }
      const min = leaf.min as number | undefined;
      if (min === undefined || v < min || (v === 0 && min === 0 && Object.is(v, -0))) leaf.min = v;
      const max = leaf.max as number | undefined;
      if (max === undefined || v > max || (v === 0 && max === 0 && Object.is(max, -0))) leaf.max = v;
    };
  }
  const compare = comparator(type);
  if (!compare) {
    // numbers and bigints compare with < and > directly
    return (value) => {
      leaf.values++;
      const v = value as number | bigint;
      if (leaf.min === undefined || v < (leaf.min as number | bigint)) leaf.min = v;
      if (leaf.max === undefined || v > (leaf.max as number | bigint)) leaf.max = v;
    };
  }
  return (value) => {
    leaf.values++;
    if (leaf.min === undefined || compare(value, leaf.min) < 0) leaf.min = value;
    if (leaf.max === undefined || compare(value, leaf.max) > 0) leaf.max = value;
  };
}

/** A comparator for types where `<` is not the Iceberg order, or undefined where it is. */
function comparator(type: PrimitiveType): ((a: unknown, b: unknown) => number) | undefined {
  if (type === 'string') return (a, b) => compareCodePoints(a as string, b as string);
  if (type === 'boolean') return (a, b) => Number(a) - Number(b);
  if (type === 'binary' || type === 'uuid' || fixedLength(type) !== undefined)
    return (a, b) => compareBytes(a as Uint8Array, b as Uint8Array);
  return undefined;
}

/**
 * Code point order (= UTF-8 byte order). UTF-16 unit order agrees with it unless the first difference involves a
 * surrogate, so only then does this fall back to the full comparison.
 */
function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if (x < 0xd800 && y < 0xd800) return x - y;
  return compareStrings(a, b);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** A leaf's final counts and least/greatest values: observed row by row, or merged from files' metrics. */
export type LeafTotals = Pick<
  LeafMetrics,
  'id' | 'type' | 'mode' | 'bounds' | 'values' | 'nulls' | 'nans' | 'min' | 'max'
>;

/** Serialized bounds of a leaf under its mode, or undefined when it has none. */
export function leafBounds(leaf: LeafTotals): { lower?: Uint8Array; upper?: Uint8Array } {
  if (!leaf.bounds || leaf.min === undefined) return {};
  let min: unknown = leaf.min;
  let max: unknown = leaf.max;
  if (leaf.mode.kind === 'truncate') {
    const kind =
      leaf.type === 'string'
        ? 'string'
        : leaf.type === 'binary' || fixedLength(leaf.type) !== undefined
          ? 'binary'
          : undefined;
    if (kind) {
      min = truncateLowerBound(kind, min, leaf.mode.length);
      max = truncateUpperBound(kind, max, leaf.mode.length);
    }
  }
  // uuid values are observed as their 16 bytes; fixed bounds may be shorter than L after truncation (Java too)
  const asBytes = leaf.type === 'uuid' || fixedLength(leaf.type) !== undefined;
  const encode = (value: unknown) => toBinary(asBytes ? 'binary' : leaf.type, value);
  return { lower: encode(min), upper: max === undefined ? undefined : encode(max) };
}

/** The counts and bounds maps of `DataFile` from finished leaves (column sizes and offsets come from the file). */
export function metricsMaps(
  leaves: readonly LeafTotals[],
): Pick<DataFileMetrics, 'valueCounts' | 'nullValueCounts' | 'nanValueCounts' | 'lowerBounds' | 'upperBounds'> {
  const valueCounts = new Map<number, number>();
  const nullValueCounts = new Map<number, number>();
  const nanValueCounts = new Map<number, number>();
  const lowerBounds = new Map<number, Uint8Array>();
  const upperBounds = new Map<number, Uint8Array>();
  for (const leaf of leaves) {
    if (leaf.mode.kind === 'none') continue;
    valueCounts.set(leaf.id, leaf.values);
    nullValueCounts.set(leaf.id, leaf.nulls);
    if (leaf.type === 'float' || leaf.type === 'double') nanValueCounts.set(leaf.id, leaf.nans);
    const { lower, upper } = leafBounds(leaf);
    if (lower) lowerBounds.set(leaf.id, lower);
    if (upper) upperBounds.set(leaf.id, upper);
  }
  return { valueCounts, nullValueCounts, nanValueCounts, lowerBounds, upperBounds };
}
