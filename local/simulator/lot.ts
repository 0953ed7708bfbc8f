/**
 * The parking lot and its digital twin: which slots are taken, which cars are inside and when each one leaves.
 * Time is counted in parking movements (ticks), not seconds, so a seed gives the same story at any rate; at R
 * movements per second a stay of N ticks lasts N/R seconds ("parking duration scaled by rate").
 */
import type { Random } from './random.ts';

const ROWS = ['A', 'B', 'C', 'D'] as const;
const SLOTS_PER_ROW = 50;

/** The one lot of the scenario. The pipeline's range rules should use the same box. */
export const LOT = {
  id: 'LOT-1',
  latitude: { min: 52.52, max: 52.5212 },
  longitude: { min: 13.404, max: 13.406 },
  rows: ROWS,
  slotsPerRow: SLOTS_PER_ROW,
  slotCount: ROWS.length * SLOTS_PER_ROW,
} as const;

export type Row = (typeof ROWS)[number];

export interface Position {
  latitude: number;
  longitude: number;
}

export interface ParkedCar {
  carId: string;
  slot: string;
  enteredTick: number;
  leavesTick: number;
}

export interface Movement {
  direction: 'entry' | 'exit';
  car: ParkedCar;
}

export interface LotTwin {
  /** Parking movements so far. */
  tick: number;
  free: string[];
  parked: Map<string, ParkedCar>;
}

/** Average stay in ticks: with entries and exits alternating on average, the lot settles near 70% occupancy. */
const MEAN_STAY_TICKS = 2 * 0.7 * LOT.slotCount;
const MIN_STAY_TICKS = 10;
const CITY_CODES = ['B', 'P', 'HH', 'M', 'K', 'F', 'S', 'D', 'L', 'HB', 'DD', 'LOS', 'TF', 'BAR'];
const PLATE_LETTERS = [...'ABCDEFGHJKLMNPRSTUVWXYZ'];

const SLOTS: readonly string[] = ROWS.flatMap((row) =>
  Array.from({ length: SLOTS_PER_ROW }, (_, i) => `${row}-${String(i + 1).padStart(3, '0')}`),
);

/** `A-001` … `D-050`. */
export function slotIds(): string[] {
  return [...SLOTS];
}

export function isInsideLot(latitude: number, longitude: number): boolean {
  return (
    latitude >= LOT.latitude.min &&
    latitude <= LOT.latitude.max &&
    longitude >= LOT.longitude.min &&
    longitude <= LOT.longitude.max
  );
}

/** Where a car in `slot` is seen: the bay's centre plus up to ±40% of a bay of GPS scatter, rounded to 1e-6°. */
export function slotPosition(slot: string, random: Random): Position {
  const row = ROWS.indexOf(slot[0] as Row);
  const column = Number(slot.slice(2)) - 1;
  if (row < 0 || !(column >= 0 && column < SLOTS_PER_ROW)) throw new RangeError(`not a slot of ${LOT.id}: ${slot}`);
  const rowHeight = (LOT.latitude.max - LOT.latitude.min) / ROWS.length;
  const bayWidth = (LOT.longitude.max - LOT.longitude.min) / SLOTS_PER_ROW;
  const scatter = () => (random.next() - 0.5) * 0.8;
  return {
    latitude: round6(LOT.latitude.min + (row + 0.5 + scatter()) * rowHeight),
    longitude: round6(LOT.longitude.min + (column + 0.5 + scatter()) * bayWidth),
  };
}

export function createLot(): LotTwin {
  return { tick: 0, free: slotIds(), parked: new Map() };
}

export function occupied(lot: LotTwin, row?: Row): number {
  if (!row) return lot.parked.size;
  let count = 0;
  for (const car of lot.parked.values()) if (car.slot[0] === row) count++;
  return count;
}

/**
 * The next movement, applied to the twin: the car most overdue leaves if any is due (or the lot is full),
 * otherwise a new car takes a random free slot.
 */
export function nextMovement(lot: LotTwin, random: Random): Movement {
  const due = mostOverdue(lot);
  const movement: Movement =
    due && (due.leavesTick <= lot.tick || lot.free.length === 0) ? leave(lot, due) : enter(lot, random);
  lot.tick++;
  return movement;
}

/**
 * A movement that does not happen: a camera's misfire used as the base of a bad record. The twin is left untouched,
 * so the good records alone tell a consistent story.
 */
export function phantomMovement(lot: LotTwin, random: Random): Movement {
  const cars = [...lot.parked.values()];
  if (cars.length > 0 && random.chance(0.5)) return { direction: 'exit', car: random.pick(cars) };
  const slot = random.pick(SLOTS);
  return {
    direction: 'entry',
    car: { carId: newPlate(lot, random), slot, enteredTick: lot.tick, leavesTick: lot.tick },
  };
}

function mostOverdue(lot: LotTwin): ParkedCar | undefined {
  let first: ParkedCar | undefined;
  for (const car of lot.parked.values()) if (!first || car.leavesTick < first.leavesTick) first = car;
  return first;
}

function leave(lot: LotTwin, car: ParkedCar): Movement {
  lot.parked.delete(car.carId);
  lot.free.push(car.slot);
  return { direction: 'exit', car };
}

function enter(lot: LotTwin, random: Random): Movement {
  const index = random.int(0, lot.free.length - 1);
  const slot = lot.free[index];
  lot.free[index] = lot.free[lot.free.length - 1];
  lot.free.pop();
  // Log-normal stays: most are near the mean, a few cars stay several times longer.
  const stay = Math.max(MIN_STAY_TICKS, Math.round(MEAN_STAY_TICKS * Math.exp(0.6 * random.normal() - 0.18)));
  const car: ParkedCar = { carId: newPlate(lot, random), slot, enteredTick: lot.tick, leavesTick: lot.tick + stay };
  lot.parked.set(car.carId, car);
  return { direction: 'entry', car };
}

/** A German-style plate (`B-KX 4821`) that no car inside the lot has. */
function newPlate(lot: LotTwin, random: Random): string {
  for (;;) {
    const letters = Array.from({ length: random.int(1, 2) }, () => random.pick(PLATE_LETTERS)).join('');
    const plate = `${random.pick(CITY_CODES)}-${letters} ${random.int(1, 9999)}`;
    if (!lot.parked.has(plate)) return plate;
  }
}

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
