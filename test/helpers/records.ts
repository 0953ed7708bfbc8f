/** Tagged records of the `parking-entry` topic's partition 0, as the tagger hands them to the writer. */
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
