/**
 * ISO-8601 durations as Knative's DeliverySpec writes them (`PT0.5S`, `PT1M30S`, `P1D`), in milliseconds.
 * Years and months are refused: their length depends on the calendar, and no delivery setting needs them.
 */

const DURATION =
  /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const MS = { week: 604_800_000, day: 86_400_000, hour: 3_600_000, minute: 60_000, second: 1000 };

export function parseIsoDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) {
    throw new RangeError(`not an ISO-8601 duration (e.g. PT0.5S, PT2M, P1D): ${JSON.stringify(text)}`);
  }
  const [, weeks, days, hours, minutes, seconds] = match;
  const part = (value: string | undefined, unit: number) => (value === undefined ? 0 : Number(value) * unit);
  return Math.round(
    part(weeks, MS.week) +
      part(days, MS.day) +
      part(hours, MS.hour) +
      part(minutes, MS.minute) +
      part(seconds, MS.second),
  );
}

export function isIsoDuration(text: string): boolean {
  try {
    parseIsoDuration(text);
    return true;
  } catch {
    return false;
  }
}
