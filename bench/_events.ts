/**
 * The benchmark workload: parking events as they reach a table (event fields + ingestion metadata), deterministic
 * for a seed so that separate benchmark processes see identical rows. Shared by the Parquet and table benchmarks.
 */
import { schemaFromJson } from '../shared/iceberg/schema.ts';
import type { Schema } from '../shared/iceberg/types.ts';

export const parkingEventSchema: Schema = schemaFromJson({
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 1, name: 'event_id', required: true, type: 'string' },
    { id: 2, name: 'event_time', required: true, type: 'timestamptz' },
    { id: 3, name: 'car_id', required: true, type: 'string' },
    { id: 4, name: 'slot', required: false, type: 'int' },
    { id: 5, name: 'x', required: false, type: 'double' },
    { id: 6, name: 'y', required: false, type: 'double' },
    {
      id: 7,
      name: 'image',
      required: false,
      type: {
        type: 'struct',
        fields: [
          { id: 15, name: 'uri', required: true, type: 'string' },
          { id: 16, name: 'size_bytes', required: true, type: 'long' },
          { id: 17, name: 'content_type', required: true, type: 'string' },
          { id: 18, name: 'sha256', required: true, type: 'string' },
          { id: 19, name: 'inline', required: false, type: 'binary' },
        ],
      },
    },
    { id: 8, name: 'ingestion_time', required: true, type: 'timestamptz' },
    { id: 9, name: 'topic', required: true, type: 'string' },
    { id: 10, name: 'partition', required: true, type: 'int' },
    { id: 11, name: 'offset', required: true, type: 'long' },
    { id: 12, name: 'key', required: false, type: 'string' },
    { id: 13, name: 'batch_id', required: true, type: 'string' },
    { id: 14, name: 'status', required: true, type: 'string' },
  ],
});

/** A small linear congruential generator: reproducible, fast, good enough for synthetic data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

const HEX = '0123456789abcdef';

/**
 * `count` parking events: unique event ids, µs timestamps one millisecond apart, 50k cars, 1000 slots, coordinates,
 * and on 1% of rows a claim-check image struct with ~2 KB of inline bytes; 12 Kafka partitions, batches of 10k.
 */
export function parkingEvents(count: number, seed = 42): Record<string, unknown>[] {
  const next = random(seed);
  const hex = (length: number) => {
    let out = '';
    for (let i = 0; i < length; i++) out += HEX[(next() * 16) | 0];
    return out;
  };
  const start = 1_767_225_600_000_000n; // 2026-01-01T00:00:00Z in µs
  const rows = new Array<Record<string, unknown>>(count);
  for (let i = 0; i < count; i++) {
    const time = start + BigInt(i) * 1000n + BigInt((next() * 1000) | 0);
    const car = `CAR-${String((next() * 50_000) | 0).padStart(5, '0')}`;
    let image: Record<string, unknown> | null = null;
    if (next() < 0.01) {
      const inline = new Uint8Array(1800 + ((next() * 500) | 0));
      for (let b = 0; b < inline.length; b++) inline[b] = (next() * 256) | 0;
      image = {
        uri: `s3://warehouse/blobs/${hex(16)}.jpg`,
        size_bytes: BigInt(inline.length),
        content_type: 'image/jpeg',
        sha256: hex(64),
        inline,
      };
    }
    rows[i] = {
      event_id: `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
      event_time: time,
      car_id: car,
      slot: (next() * 1000) | 0,
      x: next() * 100,
      y: next() * 50,
      image,
      ingestion_time: time + 2_500_000n,
      topic: i % 2 ? 'parking-entry' : 'parking-exit',
      partition: i % 12,
      offset: BigInt(i >> 2),
      key: car,
      batch_id: `batch-${String(Math.floor(i / 10_000)).padStart(6, '0')}`,
      status: 'staged',
    };
  }
  return rows;
}

/** Bytes of the values themselves (UTF-8 strings, 4/8-byte numbers, binary lengths): the "MB" of MB/s. */
export function logicalSize(rows: Record<string, unknown>[]): number {
  let bytes = 0;
  const add = (value: unknown): void => {
    if (value === null || value === undefined) return;
    if (typeof value === 'string') bytes += Buffer.byteLength(value);
    else if (typeof value === 'bigint') bytes += 8;
    else if (typeof value === 'number') bytes += Number.isInteger(value) ? 4 : 8;
    else if (typeof value === 'boolean') bytes += 1;
    else if (value instanceof Uint8Array) bytes += value.byteLength;
    else if (typeof value === 'object') for (const v of Object.values(value)) add(v);
  };
  for (const row of rows) add(row);
  return bytes;
}
