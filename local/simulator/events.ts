/**
 * The event stream of the parking-lot twin: `parking-entry` / `parking-exit` camera events and `parking-sensors`
 * readings, as ready-to-send Kafka records, with a share of deliberately bad records. A seed fixes the whole stream;
 * only the timestamps come from the clock (injectable).
 *
 * Bad records are camera misfires and sensor glitches on top of the twin: they never change its state, so the good
 * records alone tell a consistent story (every good exit follows the good entry of the same car).
 */
import { createHash } from 'node:crypto';
import { carColor, renderCarImage } from './images.ts';
import {
  createLot,
  LOT,
  nextMovement,
  occupied,
  phantomMovement,
  slotPosition,
  type LotTwin,
  type Movement,
  type Row,
} from './lot.ts';
import { createRandom, type Random } from './random.ts';

export const TOPIC_ROLES = ['entry', 'exit', 'sensors'] as const;
export type TopicRole = (typeof TOPIC_ROLES)[number];

export const BAD_KINDS = ['malformed', 'null', 'wrong-type', 'out-of-lot', 'future', 'duplicate'] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/** Required fields per event family: the ones a `null` bad record blanks. */
export const REQUIRED_FIELDS = {
  parking: ['event_id', 'timestamp', 'car_id', 'slot'],
  sensors: ['sensor_id', 'timestamp', 'value'],
} as const;

export const CONTENT_TYPE = 'application/json';

export interface ParkingEvent {
  event_id: string;
  timestamp: string;
  lot_id: string;
  camera_id: string;
  direction: 'in' | 'out';
  car_id: string;
  slot: string;
  latitude: number;
  longitude: number;
  /** How sure the plate reader is. */
  confidence: number;
  /** The camera frame, base64 PNG. */
  image: string;
}

export interface SensorEvent {
  sensor_id: string;
  timestamp: string;
  lot_id: string;
  kind: 'occupancy' | 'temperature';
  value: number;
  unit: 'slots' | 'celsius';
}

export interface SimRecord {
  role: TopicRole;
  key: string;
  value: Buffer;
  headers: { 'content-type': string };
  /** Why the record is bad, if it is. Known to the simulator only; nothing of it is sent. */
  bad?: BadKind;
}

export interface EventSourceOptions {
  seed: number;
  /** Share of bad records, 0–1; default 0. */
  badFraction?: number;
  /** Milliseconds since the epoch for event timestamps; default Date.now. */
  clock?: () => number;
}

export interface EventSource {
  next(): SimRecord;
  readonly lot: LotTwin;
}

/** One record in SENSOR_EVERY is a sensor reading, the rest are parking movements. */
const SENSOR_EVERY = 5;
/** How many recent good records per family a `duplicate` may repeat. */
const HISTORY = 32;
const HOUR_MS = 3_600_000;
/** Event ids are name-based UUIDs (RFC 4122 v5) of seed and sequence number in this namespace. */
const EVENT_ID_NAMESPACE = Buffer.from('5b0d6f1c8a3e4f2b9c7d1e0f2a3b4c5d', 'hex');

interface Sensor {
  id: string;
  kind: SensorEvent['kind'];
  row?: Row;
  /** Temperature sensors: offset from the lot's curve (sun-facing side is warmer) and a slowly wandering drift. */
  offset: number;
  drift: number;
}

type Family = keyof typeof REQUIRED_FIELDS;

interface Stream {
  seed: number;
  random: Random;
  lot: LotTwin;
  clock: () => number;
  badFraction: number;
  sequence: number;
  badCount: number;
  sensors: Sensor[];
  nextSensor: number;
  history: Record<Family, SimRecord[]>;
}

export function createEventSource(options: EventSourceOptions): EventSource {
  const badFraction = options.badFraction ?? 0;
  if (!(badFraction >= 0 && badFraction <= 1))
    throw new RangeError(`badFraction must be within 0..1, got ${badFraction}`);
  const stream: Stream = {
    seed: options.seed,
    random: createRandom(options.seed),
    lot: createLot(),
    clock: options.clock ?? Date.now,
    badFraction,
    sequence: 0,
    badCount: 0,
    sensors: createSensors(),
    nextSensor: 0,
    history: { parking: [], sensors: [] },
  };
  return { next: () => nextRecord(stream), lot: stream.lot };
}

/** The first `count` records of the stream for `seed` (tests and benchmarks that need events without Kafka). */
export function generateEvents(
  seed: number,
  count: number,
  options: Omit<EventSourceOptions, 'seed'> = {},
): SimRecord[] {
  const source = createEventSource({ ...options, seed });
  return Array.from({ length: count }, () => source.next());
}

function createSensors(): Sensor[] {
  return [
    { id: `${LOT.id}-OCC`, kind: 'occupancy', offset: 0, drift: 0 },
    ...LOT.rows.map((row): Sensor => ({ id: `${LOT.id}-OCC-${row}`, kind: 'occupancy', row, offset: 0, drift: 0 })),
    { id: `${LOT.id}-TEMP-N`, kind: 'temperature', offset: 0, drift: 0 },
    { id: `${LOT.id}-TEMP-S`, kind: 'temperature', offset: 1.5, drift: 0 },
  ];
}

function nextRecord(stream: Stream): SimRecord {
  const sequence = stream.sequence++;
  const family: Family = sequence % SENSOR_EVERY === SENSOR_EVERY - 1 ? 'sensors' : 'parking';
  const bad = stream.random.chance(stream.badFraction) ? chooseBadKind(stream, family) : undefined;
  if (bad === 'duplicate') return { ...stream.random.pick(stream.history[family]), bad };
  const record = family === 'sensors' ? sensorRecord(stream, sequence, bad) : parkingRecord(stream, sequence, bad);
  if (!bad) remember(stream.history[family], record);
  return record;
}

/** Kinds take turns so that every kind shows up even in short runs; a duplicate needs an earlier record to repeat. */
function chooseBadKind(stream: Stream, family: Family): BadKind {
  const kinds = family === 'sensors' ? BAD_KINDS.filter((kind) => kind !== 'out-of-lot') : BAD_KINDS;
  for (;;) {
    const kind = kinds[stream.badCount++ % kinds.length];
    if (kind !== 'duplicate' || stream.history[family].length > 0) return kind;
  }
}

function remember(history: SimRecord[], record: SimRecord): void {
  if (history.length === HISTORY) history.shift();
  history.push(record);
}

function parkingRecord(stream: Stream, sequence: number, bad: BadKind | undefined): SimRecord {
  const { random, lot } = stream;
  const movement = bad ? phantomMovement(lot, random) : nextMovement(lot, random);
  const event = parkingEvent(stream, sequence, movement);
  if (bad === 'out-of-lot') Object.assign(event, outsideLot(random));
  return toRecord(movement.direction, movement.car.carId, event, bad, stream);
}

function parkingEvent(stream: Stream, sequence: number, { direction, car }: Movement): ParkingEvent {
  const { random } = stream;
  const position = slotPosition(car.slot, random);
  const image = renderCarImage({ plate: car.carId, direction, color: carColor(car.carId) }, random);
  return {
    event_id: eventId(stream.seed, sequence),
    timestamp: new Date(stream.clock()).toISOString(),
    lot_id: LOT.id,
    camera_id: direction === 'entry' ? `${LOT.id}-CAM-IN` : `${LOT.id}-CAM-OUT`,
    direction: direction === 'entry' ? 'in' : 'out',
    car_id: car.carId,
    slot: car.slot,
    latitude: position.latitude,
    longitude: position.longitude,
    confidence: Math.round((0.8 + random.next() * 0.19) * 100) / 100,
    image: image.toString('base64'),
  };
}

function sensorRecord(stream: Stream, sequence: number, bad: BadKind | undefined): SimRecord {
  const sensor = stream.sensors[stream.nextSensor];
  stream.nextSensor = (stream.nextSensor + 1) % stream.sensors.length;
  const now = stream.clock();
  const event: SensorEvent = {
    sensor_id: sensor.id,
    timestamp: new Date(now).toISOString(),
    lot_id: LOT.id,
    kind: sensor.kind,
    value: sensor.kind === 'occupancy' ? occupied(stream.lot, sensor.row) : temperature(sensor, now, stream.random),
    unit: sensor.kind === 'occupancy' ? 'slots' : 'celsius',
  };
  return toRecord('sensors', sensor.id, event, bad, stream);
}

/** A smooth daily curve (coldest around 03:00 UTC, warmest around 15:00) plus a slowly wandering drift. */
function temperature(sensor: Sensor, now: number, random: Random): number {
  const hour = (now % (24 * HOUR_MS)) / HOUR_MS;
  sensor.drift = 0.95 * sensor.drift + 0.08 * random.normal();
  const value = 11 + 7 * Math.sin((2 * Math.PI * (hour - 9)) / 24) + sensor.offset + sensor.drift;
  return Math.round(value * 100) / 100;
}

/**
 * Serializes the event, spoiled the way `bad` says. Event fields are plain strings and doubles (no 64-bit integers),
 * so JSON.stringify is safe here, and it is several times faster than a lossless serializer on the base64 images.
 */
function toRecord(
  role: TopicRole,
  key: string,
  event: ParkingEvent | SensorEvent,
  bad: BadKind | undefined,
  stream: Stream,
): SimRecord {
  const family: Family = role === 'sensors' ? 'sensors' : 'parking';
  const fields: Record<string, unknown> = { ...event };
  if (bad === 'null') fields[stream.random.pick(REQUIRED_FIELDS[family])] = null;
  if (bad === 'wrong-type') Object.assign(fields, wrongType(family, stream.random));
  if (bad === 'future')
    fields.timestamp = new Date(stream.clock() + HOUR_MS + stream.random.int(0, 23 * HOUR_MS)).toISOString();
  const json = Buffer.from(JSON.stringify(fields));
  const value = bad === 'malformed' ? malform(json, stream.random) : json;
  return { role, key, value, headers: { 'content-type': CONTENT_TYPE }, ...(bad ? { bad } : {}) };
}

function wrongType(family: Family, random: Random): Record<string, unknown> {
  const choices: Record<string, unknown>[] =
    family === 'parking'
      ? [
          { slot: random.int(1, 200) },
          { timestamp: 'yesterday' },
          { latitude: 'north' },
          { car_id: random.int(1000, 9999) },
        ]
      : [{ value: 'hot' }, { timestamp: 'yesterday' }, { sensor_id: random.int(1, 99) }];
  return random.pick(choices);
}

/** Coordinates 50 m to 1 km outside the lot's box, on a random side. */
function outsideLot(random: Random): { latitude: number; longitude: number } {
  const beyond = 0.0005 + random.next() * 0.0095;
  const latitude = LOT.latitude.min + random.next() * (LOT.latitude.max - LOT.latitude.min);
  const longitude = LOT.longitude.min + random.next() * (LOT.longitude.max - LOT.longitude.min);
  switch (random.int(0, 3)) {
    case 0:
      return { latitude: round6(LOT.latitude.max + beyond), longitude: round6(longitude) };
    case 1:
      return { latitude: round6(LOT.latitude.min - beyond), longitude: round6(longitude) };
    case 2:
      return { latitude: round6(latitude), longitude: round6(LOT.longitude.max + beyond) };
    default:
      return { latitude: round6(latitude), longitude: round6(LOT.longitude.min - beyond) };
  }
}

/** Bytes that are not JSON: cut short (the object never closes), prefixed with binary garbage, or with a bare key. */
function malform(json: Buffer, random: Random): Buffer {
  switch (random.int(0, 2)) {
    case 0:
      return json.subarray(0, random.int(1, json.length - 2));
    case 1:
      return Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), json]);
    default:
      return Buffer.from(json.toString().replace(/^\{"(\w+)":/, '{$1:'));
  }
}

/** A name-based UUID (v5) of the seed and the record's sequence number: unique per run, reproducible per seed. */
export function eventId(seed: number, sequence: number): string {
  const hash = createHash('sha1').update(EVENT_ID_NAMESPACE).update(`${seed}/${sequence}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
