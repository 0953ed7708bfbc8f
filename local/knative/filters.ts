/**
 * Knative Trigger filters evaluated against a CloudEvent's attributes — the one evaluator shared by the local
 * broker and the offline manifest checks, so "the Trigger matches" means the same thing in both places.
 *
 * Semantics follow Knative Eventing's broker filter (pkg/eventfilter): each expression yields pass, fail or "no
 * filter" (an expression the broker cannot materialize, e.g. an empty value, is skipped rather than failing);
 * `filters` entries are AND-ed; an event is delivered unless the result is fail. The legacy `filter.attributes`
 * matches exactly, the value "" meaning "present with any value"; an attribute the event lacks fails.
 * CESQL is not implemented: floe's manifests do not use it, and evaluating it throws UnsupportedFilterError.
 */

export type FilterExpression =
  | { exact: Record<string, string> }
  | { prefix: Record<string, string> }
  | { suffix: Record<string, string> }
  | { all: FilterExpression[] }
  | { any: FilterExpression[] }
  | { not: FilterExpression }
  | { cesql: string }
  /** Legacy `spec.filter.attributes` of a Trigger, kept as one expression with its own semantics. */
  | { attributes: Record<string, string> };

export const FILTER_DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const;

/** CloudEvent context attributes and extensions by name (a `cloudevents` CloudEvent object works as is). */
export type EventAttributes = Readonly<Record<string, unknown>>;

export type FilterResult = 'pass' | 'fail' | 'none';

export class UnsupportedFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFilterError';
  }
}

/** True when a Trigger with these filters delivers the event (no filters: everything). */
export function matchesFilters(filters: readonly FilterExpression[], event: EventAttributes): boolean {
  return allOf(filters, event) !== 'fail';
}

export function evaluateFilter(expression: FilterExpression, event: EventAttributes): FilterResult {
  if ('exact' in expression) return compareEach(expression.exact, event, (actual, wanted) => actual === wanted);
  if ('prefix' in expression)
    return compareEach(expression.prefix, event, (actual, wanted) => actual.startsWith(wanted));
  if ('suffix' in expression) return compareEach(expression.suffix, event, (actual, wanted) => actual.endsWith(wanted));
  if ('all' in expression) return allOf(expression.all, event);
  if ('any' in expression) return anyOf(expression.any, event);
  if ('not' in expression) return negate(evaluateFilter(expression.not, event));
  if ('attributes' in expression) return legacyAttributes(expression.attributes, event);
  if ('cesql' in expression) {
    throw new UnsupportedFilterError(`CESQL filters are not supported by floe's local broker: ${expression.cesql}`);
  }
  throw new UnsupportedFilterError(`unknown filter expression: ${JSON.stringify(expression)}`);
}

/** An attribute as the broker compares it: its string form, or undefined when the event does not carry it. */
export function attributeValue(event: EventAttributes, name: string): string | undefined {
  const value = event[name];
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

function compareEach(
  wanted: Record<string, string>,
  event: EventAttributes,
  compare: (actual: string, wanted: string) => boolean,
): FilterResult {
  const entries = Object.entries(wanted);
  // Knative refuses to build exact/prefix/suffix filters with an empty name or value and skips them.
  if (entries.length === 0 || entries.some(([name, value]) => name === '' || value === '')) return 'none';
  for (const [name, value] of entries) {
    const actual = attributeValue(event, name);
    if (actual === undefined || !compare(actual, value)) return 'fail';
  }
  return 'pass';
}

function legacyAttributes(wanted: Record<string, string>, event: EventAttributes): FilterResult {
  for (const [name, value] of Object.entries(wanted)) {
    const actual = attributeValue(event, name);
    if (actual === undefined) return 'fail';
    if (value !== '' && actual !== value) return 'fail';
  }
  return 'pass';
}

function allOf(expressions: readonly FilterExpression[], event: EventAttributes): FilterResult {
  let result: FilterResult = 'none';
  for (const expression of expressions) {
    const next = evaluateFilter(expression, event);
    if (next === 'fail') return 'fail';
    if (next === 'pass') result = 'pass';
  }
  return result;
}

function anyOf(expressions: readonly FilterExpression[], event: EventAttributes): FilterResult {
  let result: FilterResult = 'none';
  for (const expression of expressions) {
    const next = evaluateFilter(expression, event);
    if (next === 'pass') return 'pass';
    if (next === 'fail') result = 'fail';
  }
  return result;
}

function negate(result: FilterResult): FilterResult {
  if (result === 'pass') return 'fail';
  if (result === 'fail') return 'pass';
  return 'none';
}
