/**
 * PingSource schedule check as Knative's webhook does it: robfig/cron `ParseStandard` — five fields (minute hour
 * day-of-month month day-of-week) or a descriptor (@hourly, @daily, …) — with `@every` refused by the webhook
 * before parsing. Returns the reason a schedule is invalid, or undefined.
 */

const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldBounds {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Value of names[0]. */
  namesFrom?: number;
}

const FIELDS: FieldBounds[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 6, names: DAYS, namesFrom: 0 },
];

export function cronScheduleProblem(schedule: string): string | undefined {
  const text = schedule.trim();
  if (text.includes('@every')) return 'unsupported descriptor @every';
  if (/^(CRON_)?TZ=/.test(text)) return 'put the time zone in spec.timezone, not in the schedule';
  if (text.startsWith('@')) return DESCRIPTORS.has(text) ? undefined : `unrecognized descriptor ${text}`;
  const fields = text.split(/\s+/);
  if (fields.length !== 5)
    return `expected exactly 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`;
  for (let i = 0; i < 5; i++) {
    const reason = fieldProblem(fields[i], FIELDS[i]);
    if (reason) return `${FIELDS[i].name} "${fields[i]}": ${reason}`;
  }
  return undefined;
}

function fieldProblem(field: string, bounds: FieldBounds): string | undefined {
  for (const part of field.split(',')) {
    const [range, step, extra] = part.split('/');
    if (extra !== undefined) return 'too many slashes';
    if (step !== undefined && !/^\d+$/.test(step)) return `bad step ${step}`;
    if (step !== undefined && Number(step) === 0) return 'step must be positive';
    if (range === '*' || range === '?') continue;
    const [low, high, more] = range.split('-');
    if (more !== undefined) return 'too many hyphens';
    const start = value(low, bounds);
    const end = high === undefined ? start : value(high, bounds);
    if (start === undefined || end === undefined)
      return `not a value of ${bounds.min}-${bounds.max}${bounds.names ? ' or a name' : ''}`;
    if (start < bounds.min || end > bounds.max) return `out of range ${bounds.min}-${bounds.max}`;
    if (start > end) return `beginning of range (${start}) beyond end of range (${end})`;
  }
  return undefined;
}

function value(text: string, bounds: FieldBounds): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const index = bounds.names?.indexOf(text.toLowerCase()) ?? -1;
  return index >= 0 ? index + (bounds.namesFrom ?? 0) : undefined;
}
