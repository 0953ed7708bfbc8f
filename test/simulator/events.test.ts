/**
 * The event generator without Kafka: determinism, the twin's consistency (exits follow entries, occupancy readings
 * match the cars inside), good records that are really good, bad records that are bad the way their kind says, and
 * camera images that decode.
 */
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  BAD_KINDS,
  eventId,
  generateEvents,
  IMAGE_HEIGHT,
  IMAGE_WIDTH,
  isInsideLot,
  LOT,
  REQUIRED_FIELDS,
  slotIds,
  type BadKind,
  type SimRecord,
} from '../../local/simulator/index.ts';

const NOW = Date.parse('2026-03-14T09:26:53.589Z');
const clock = () => NOW;
const HOUR = 3_600_000;

type Fields = Record<string, unknown>;

function parse(record: SimRecord): Fields {
  return JSON.parse(record.value.toString('utf8')) as Fields;
}

function decodeImage(base64: string): PNG {
  const bytes = Buffer.from(base64, 'base64');
  // PNG signature, then IHDR as the first chunk with the frame's dimensions.
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
  expect(bytes.readUInt32BE(16)).toBe(IMAGE_WIDTH);
  expect(bytes.readUInt32BE(20)).toBe(IMAGE_HEIGHT);
  return PNG.sync.read(bytes);
}

describe('generateEvents', () => {
  it('is deterministic for a seed, and the seed matters', () => {
    const a = generateEvents(42, 300, { badFraction: 0.2, clock });
    const b = generateEvents(42, 300, { badFraction: 0.2, clock });
    const c = generateEvents(43, 300, { badFraction: 0.2, clock });
    expect(a.map((r) => r.value.toString('base64'))).toEqual(b.map((r) => r.value.toString('base64')));
    expect(a.map((r) => [r.role, r.key, r.bad])).toEqual(b.map((r) => [r.role, r.key, r.bad]));
    expect(c.map((r) => r.key)).not.toEqual(a.map((r) => r.key));
  });

  it('takes only timestamps from the clock: parking events and occupancy are the same at another time', () => {
    const early = generateEvents(9, 400, { clock: () => NOW });
    const late = generateEvents(9, 400, { clock: () => NOW + 5 * HOUR + 123 });
    const withoutTime = (r: SimRecord) => {
      const { timestamp, ...rest } = parse(r);
      return { timestamp: typeof timestamp, rest };
    };
    const comparable = (records: SimRecord[]) =>
      records.filter((r) => r.role !== 'sensors' || parse(r).kind === 'occupancy').map(withoutTime);
    expect(comparable(late)).toEqual(comparable(early));
    expect(parse(late[0]).timestamp).toBe(new Date(NOW + 5 * HOUR + 123).toISOString());
  });

  it('sends one sensor reading in five, the rest parking movements, with the JSON content type', () => {
    const records = generateEvents(1, 1000, { clock });
    expect(records.filter((r) => r.role === 'sensors')).toHaveLength(200);
    expect(records.filter((r) => r.role === 'entry').length + records.filter((r) => r.role === 'exit').length).toBe(
      800,
    );
    for (const r of records) expect(r.headers).toEqual({ 'content-type': 'application/json' });
    expect(records.some((r) => r.bad)).toBe(false);
  });

  it('makes event ids name-based UUIDs (v5) of seed and sequence, unique across the run', () => {
    const records = generateEvents(5, 2000, { clock }).filter((r) => r.role !== 'sensors');
    const ids = records.map((r) => parse(r).event_id as string);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toBe(eventId(5, 0));
    expect(eventId(5, 0)).not.toBe(eventId(6, 0));
  });
});

describe('good records', () => {
  const records = generateEvents(2024, 3000, { badFraction: 0.1, clock });
  const good = records.filter((r) => !r.bad);
  const slots = new Set(slotIds());

  it('carry every required field, well typed, inside the lot, never in the future', () => {
    expect(good.length).toBeGreaterThan(2500);
    for (const record of good) {
      const event = parse(record);
      expect(Date.parse(event.timestamp as string)).toBeLessThanOrEqual(NOW);
      expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(event.lot_id).toBe(LOT.id);
      if (record.role === 'sensors') {
        for (const field of REQUIRED_FIELDS.sensors) expect(event[field], field).not.toBeNull();
        expect(record.key).toBe(event.sensor_id);
        expect(typeof event.value).toBe('number');
        expect(event.unit).toBe(event.kind === 'occupancy' ? 'slots' : 'celsius');
        continue;
      }
      for (const field of REQUIRED_FIELDS.parking) expect(typeof event[field], field).toBe('string');
      expect(record.key).toBe(event.car_id);
      expect(event.car_id).toMatch(/^[A-Z]{1,3}-[A-Z]{1,2} \d{1,4}$/);
      expect(slots.has(event.slot as string)).toBe(true);
      expect(event.direction).toBe(record.role === 'entry' ? 'in' : 'out');
      expect(isInsideLot(event.latitude as number, event.longitude as number)).toBe(true);
    }
  });

  it('have camera images that decode to the frame size, about 1–4 KB each', () => {
    const parking = good.filter((r) => r.role !== 'sensors').slice(0, 40);
    for (const record of parking) {
      const { image } = parse(record) as { image: string };
      const bytes = Buffer.from(image, 'base64').length;
      expect(bytes).toBeGreaterThan(1024);
      expect(bytes).toBeLessThan(4096);
      const png = decodeImage(image);
      expect(png.width).toBe(IMAGE_WIDTH);
      expect(png.height).toBe(IMAGE_HEIGHT);
      // A picture, not a blank: the plate is drawn white on the car, dark glyphs on it.
      const levels = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) levels.add(png.data[i]);
      expect(levels.size).toBeGreaterThan(10);
    }
  });

  it('tell a consistent story: exits follow entries, one car per slot, occupancy readings count the cars inside', () => {
    const inside = new Map<string, string>();
    let exits = 0;
    let occupancyReadings = 0;
    for (const record of good) {
      const event = parse(record);
      if (record.role === 'entry') {
        expect(inside.has(event.car_id as string)).toBe(false);
        expect([...inside.values()]).not.toContain(event.slot);
        inside.set(event.car_id as string, event.slot as string);
      } else if (record.role === 'exit') {
        expect(inside.get(event.car_id as string)).toBe(event.slot);
        inside.delete(event.car_id as string);
        exits++;
      } else if (event.kind === 'occupancy') {
        const row = (event.sensor_id as string).split('-OCC')[1]?.replace('-', '');
        const expected = row ? [...inside.values()].filter((slot) => slot.startsWith(row)).length : inside.size;
        expect(event.value, event.sensor_id as string).toBe(expected);
        occupancyReadings++;
      }
      expect(inside.size).toBeLessThanOrEqual(LOT.slotCount);
    }
    expect(exits).toBeGreaterThan(800);
    expect(occupancyReadings).toBeGreaterThan(300);
    // Once warmed up, the lot settles well inside its capacity: neither empty nor full.
    expect(inside.size).toBeGreaterThan(LOT.slotCount * 0.4);
    expect(inside.size).toBeLessThan(LOT.slotCount);
  });

  it('report temperatures on a smooth daily curve', () => {
    const readings = (at: number) =>
      generateEvents(3, 400, { clock: () => at })
        .map(parse)
        .filter((e) => e.kind === 'temperature')
        .map((e) => e.value as number);
    const night = readings(Date.parse('2026-03-14T03:00:00Z'));
    const afternoon = readings(Date.parse('2026-03-14T15:00:00Z'));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(afternoon) - mean(night)).toBeGreaterThan(10);
    for (const value of [...night, ...afternoon]) expect(value).toBeGreaterThan(-5);
    for (let i = 2; i < night.length; i++) expect(Math.abs(night[i] - night[i - 2])).toBeLessThan(1);
  });
});

describe('bad records', () => {
  const records = generateEvents(77, 6000, { badFraction: 0.1, clock });
  const bad = (kind: BadKind) => records.filter((r) => r.bad === kind);

  it('make up the requested share, spread over every kind in every topic it applies to', () => {
    const share = records.filter((r) => r.bad).length / records.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
    for (const kind of BAD_KINDS) {
      for (const role of ['entry', 'exit', 'sensors'] as const) {
        const count = bad(kind).filter((r) => r.role === role).length;
        if (kind === 'out-of-lot' && role === 'sensors') expect(count).toBe(0);
        else expect(count, `${kind} on ${role}`).toBeGreaterThan(5);
      }
    }
  });

  it('malformed: the bytes are not JSON', () => {
    for (const record of bad('malformed')) expect(() => JSON.parse(record.value.toString('utf8'))).toThrow(SyntaxError);
  });

  it('null: exactly one required field is null', () => {
    for (const record of bad('null')) {
      const event = parse(record);
      const required = record.role === 'sensors' ? REQUIRED_FIELDS.sensors : REQUIRED_FIELDS.parking;
      expect(required.filter((field) => event[field] === null)).toHaveLength(1);
    }
  });

  it('wrong-type: a field has a type its schema does not allow', () => {
    for (const record of bad('wrong-type')) {
      const event = parse(record);
      const wrong =
        Number.isNaN(Date.parse(String(event.timestamp))) ||
        (record.role === 'sensors'
          ? typeof event.value !== 'number' || typeof event.sensor_id !== 'string'
          : typeof event.slot !== 'string' || typeof event.latitude !== 'number' || typeof event.car_id !== 'string');
      expect(wrong, record.value.toString().slice(0, 200)).toBe(true);
    }
  });

  it('out-of-lot: the coordinates are outside the box, everything else is fine', () => {
    for (const record of bad('out-of-lot')) {
      const event = parse(record);
      expect(record.role).not.toBe('sensors');
      expect(isInsideLot(event.latitude as number, event.longitude as number)).toBe(false);
      expect(Date.parse(event.timestamp as string)).toBeLessThanOrEqual(NOW);
    }
  });

  it('future: the timestamp is at least an hour ahead', () => {
    for (const record of bad('future'))
      expect(Date.parse(parse(record).timestamp as string)).toBeGreaterThanOrEqual(NOW + HOUR);
  });

  it('duplicate: an earlier good record sent again, same topic, key and bytes', () => {
    for (const record of bad('duplicate')) {
      const index = records.indexOf(record);
      const original = records.slice(0, index).find((r) => !r.bad && r.value.equals(record.value));
      expect(original).toBeDefined();
      expect(original!.role).toBe(record.role);
      expect(original!.key).toBe(record.key);
    }
  });

  it('none with the default fraction; all with a fraction of 1', () => {
    expect(generateEvents(1, 200, { clock }).some((r) => r.bad)).toBe(false);
    expect(generateEvents(1, 200, { clock, badFraction: 1 }).every((r) => r.bad)).toBe(true);
    expect(() => generateEvents(1, 1, { badFraction: 1.5 })).toThrow(RangeError);
  });
});
