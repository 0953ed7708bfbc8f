/** Tagged records of the `parking-entry` topic, as the tagger hands them to the writer. */
import type { TaggedRecord } from '../../shared/events/contract.ts';

/** The record at `offset`: valid with `payload`, malformed (not JSON) without. */
export function record(offset: number, payload?: Record<string, unknown>): TaggedRecord {
  return {
    topic: 'parking-entry',
    partition: 0,
    offset: String(offset),
    key: null,
    kafkaTime: null,
    ingestedAt: new Date().toISOString(),
    source: '/s',
    sourceId: `partition:0/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    ...(payload
      ? { status: 'ok', payload }
      : { status: 'malformed', error: 'value is not valid JSON', raw: Buffer.from('{').toString('base64') }),
  };
}

/** A valid parking entry at `offset`, timestamped now, in slot A-001. */
export function goodRecord(offset: number): TaggedRecord {
  return record(offset, {
    event_id: `e${offset}`,
    timestamp: new Date().toISOString(),
    car_id: `B-${offset}`,
    slot: 'A-001',
    latitude: 52.5205,
    longitude: 13.405,
  });
}

export interface ParkingEntryOptions {
  partition?: number;
  offset: number;
  /** The Kafka timestamp and ingest time of the envelope (ISO). */
  time: string;
  /** Default `car-<offset % 7>`. */
  key?: string;
  /** Fields that replace the valid payload's defaults (event id `evt-<partition>-<offset>`, timestamp `time`). */
  payload?: Record<string, unknown>;
}

/** A valid `parking-entry` record as the KafkaSource and the tagger deliver it to the writer. */
export function parkingEntry({ partition = 0, offset, time, key, payload = {} }: ParkingEntryOptions): TaggedRecord {
  return {
    topic: 'parking-entry',
    partition,
    offset: String(offset),
    key: key ?? `car-${offset % 7}`,
    kafkaTime: time,
    ingestedAt: time,
    source: '/apis/v1/namespaces/floe/kafkasources/parking#parking-entry',
    sourceId: `partition:${partition}/offset:${offset}`,
    table: 'parking_entry',
    headers: {},
    status: 'ok',
    payload: {
      event_id: `evt-${partition}-${offset}`,
      timestamp: time,
      car_id: `B-${offset}`,
      slot: `A-${String(offset % 50).padStart(3, '0')}`,
      latitude: 52.5205,
      longitude: 13.405,
      ...payload,
    },
  };
}
