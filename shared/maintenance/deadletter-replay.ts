/**
 * Dead letters, brought back: the events the deadletter function stored under `<warehouse>deadletter/<date>/` are
 * posted again to the Broker with their original attributes (minus the `knativeerror*` ones the failed delivery
 * added), and each stored file is removed once the Broker accepted its event. A KafkaSource's dead letter is the
 * exception: the source posts to its sink directly, so no Trigger routes its events and the Broker would accept and
 * drop it; it goes back to the sink it failed at (`knativeerrordest`). Every consumer is idempotent (a batch is
 * written, audited and published once per Kafka offset range), so replaying an event that was in fact handled is safe.
 * Used by `floe deadletter` and by the janitor on its `redrive` tick.
 */
import type { CloudEventMessage } from '../events/cloudevent.ts';
import { Extension } from '../events/contract.ts';
import { createEmitter } from '../runtime/event-emitter.ts';
import type { FileIO } from '../storage/file-io.ts';
import { parseJson } from '../util/lossless-json.ts';

export interface StoredDeadLetter {
  location: string;
  /** The event's id (its `id` attribute). */
  id: string;
  type: string;
  /** Where delivery failed (`knativeerrordest`) and its last status (`knativeerrorcode`). */
  destination?: string;
  code?: string;
  storedAt?: string;
  attributes: Record<string, string>;
  data: Uint8Array;
}

export function deadLetterPrefix(warehouse: string): string {
  return `${warehouse.endsWith('/') ? warehouse : `${warehouse}/`}deadletter/`;
}

interface StoredShape {
  attributes?: Record<string, unknown>;
  data_base64?: unknown;
  storedAt?: unknown;
}

/** Parses one stored dead letter; throws with the location named when it is not in the deadletter function's format. */
export function parseDeadLetter(location: string, body: Uint8Array): StoredDeadLetter {
  let stored: StoredShape;
  try {
    stored = parseJson<StoredShape>(body);
  } catch (err) {
    throw new Error(`${location}: not JSON: ${(err as Error).message}`);
  }
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored?.attributes ?? {})) attributes[name] = String(value);
  if (!attributes.id || !attributes.type || !attributes.source || typeof stored.data_base64 !== 'string') {
    throw new Error(`${location}: not a stored dead letter (needs attributes.id, .type, .source and data_base64)`);
  }
  return {
    location,
    id: attributes.id,
    type: attributes.type,
    ...(attributes.knativeerrordest ? { destination: attributes.knativeerrordest } : {}),
    ...(attributes.knativeerrorcode ? { code: attributes.knativeerrorcode } : {}),
    ...(typeof stored.storedAt === 'string' ? { storedAt: stored.storedAt } : {}),
    attributes,
    data: new Uint8Array(Buffer.from(stored.data_base64, 'base64')),
  };
}

/** Every stored dead letter, oldest first; files that do not parse are returned apart, never deleted. */
export async function listDeadLetters(
  io: FileIO,
  warehouse: string,
): Promise<{ letters: StoredDeadLetter[]; unreadable: { location: string; message: string }[] }> {
  const letters: StoredDeadLetter[] = [];
  const unreadable: { location: string; message: string }[] = [];
  const locations: string[] = [];
  for await (const object of io.list(deadLetterPrefix(warehouse)))
    if (object.location.endsWith('.json')) locations.push(object.location);
  // `<date>/<ms>-<id>.json`: sorting the names sorts by the time they were stored.
  locations.sort();
  for (const location of locations) {
    try {
      letters.push(parseDeadLetter(location, await io.read(location)));
    } catch (err) {
      unreadable.push({ location, message: (err as Error).message });
    }
  }
  return { letters, unreadable };
}

/**
 * The event as it was before delivery failed: without the `knativeerror*` attributes, and without the Broker's hop
 * budget (`knativebrokerttl`), which the failed attempt may have spent; the Broker sets a fresh one.
 */
export function replayEvent(letter: StoredDeadLetter): CloudEventMessage {
  const attributes = Object.fromEntries(
    Object.entries(letter.attributes).filter(
      ([name]) => !name.startsWith('knativeerror') && name !== 'knativebrokerttl',
    ),
  );
  return { attributes, data: letter.data };
}

export interface ReplayResult {
  replayed: StoredDeadLetter[];
  failed: { letter: StoredDeadLetter; message: string }[];
  /** Left alone: their destination did not answer healthy. */
  skipped: StoredDeadLetter[];
}

export interface ReplayOptions {
  /** Only these event ids (default every stored dead letter). */
  ids?: readonly string[];
  /** Replay only letters whose failed destination answers healthy now (default: replay all). */
  healthy?: (destination: string) => Promise<boolean>;
  /** Posts a KafkaSource's dead letter to the sink it failed at; must throw unless it answered 2xx. */
  sendTo?: (destination: string, event: CloudEventMessage) => Promise<void>;
}

/**
 * A KafkaSource's event (its delivery did not go through the Broker): every floe KafkaSource names its topic in the
 * ceOverrides extension `floekafkatopic`, and floe's own events never carry it. `knativekafkapartition`/`offset` tell
 * nothing here: the Kafka Broker sets them on every event a Trigger delivers, dead-lettered ones included.
 */
export function fromKafkaSource(letter: StoredDeadLetter): boolean {
  return letter.attributes[Extension.kafkaTopic] !== undefined;
}

/** Where a letter is replayed to: the Broker (`broker`), or for a KafkaSource's the sink it failed at. */
export function replayTarget(letter: StoredDeadLetter, broker: string): string {
  return fromKafkaSource(letter) && letter.destination ? letter.destination : broker;
}

const postTo = (destination: string, event: CloudEventMessage) => createEmitter(destination, { retries: 3 })(event);

/**
 * Re-posts stored dead letters through `send` (which must throw unless the Broker answered 2xx) and removes each file
 * once its event was accepted. A letter whose send fails stays where it is, for the next attempt.
 */
export async function replayDeadLetters(
  io: FileIO,
  letters: readonly StoredDeadLetter[],
  send: (event: CloudEventMessage) => Promise<void>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], failed: [], skipped: [] };
  const wanted = options.ids ? new Set(options.ids) : undefined;
  const health = new Map<string, Promise<boolean>>();
  for (const letter of letters) {
    if (wanted && !wanted.has(letter.id)) continue;
    if (options.healthy && letter.destination) {
      const destination = letter.destination;
      if (!health.has(destination))
        health.set(
          destination,
          options.healthy(destination).catch(() => false),
        );
      if (!(await health.get(destination))) {
        result.skipped.push(letter);
        continue;
      }
    }
    try {
      const event = replayEvent(letter);
      if (fromKafkaSource(letter) && letter.destination) await (options.sendTo ?? postTo)(letter.destination, event);
      else await send(event);
    } catch (err) {
      result.failed.push({ letter, message: (err as Error).message });
      continue;
    }
    try {
      await io.delete(letter.location);
      result.replayed.push(letter);
    } catch (err) {
      // Accepted but still stored: the next replay sends it again, which the consumers' idempotency absorbs.
      result.failed.push({
        letter,
        message: `replayed, but ${letter.location} could not be removed: ${(err as Error).message}`,
      });
    }
  }
  return result;
}

/** Whether a function answers `/health/readiness` with 200 (what Knative's readiness probe asks). */
export async function destinationReady(destination: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const url = new URL('/health/readiness', destination);
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * The Kafka records a dead letter holds, as `<topic>/<partition>/<offset>` coordinates: one for a record event from a
 * KafkaSource, every offset of its ranges for a batch event. Empty for events that carry no records (ticks).
 */
export function deadLetterRecords(letter: StoredDeadLetter): string[] {
  const a = letter.attributes;
  const topic = a[Extension.kafkaTopic];
  if (topic && a.knativekafkapartition !== undefined && a.knativekafkaoffset !== undefined)
    return [`${topic}/${a.knativekafkapartition}/${a.knativekafkaoffset}`];
  let data: { topic?: unknown; offsets?: Record<string, [unknown, unknown][]> } | undefined;
  try {
    data = letter.data.byteLength ? parseJson(letter.data) : undefined;
  } catch {
    return [];
  }
  if (!data || typeof data.topic !== 'string' || !data.offsets || typeof data.offsets !== 'object') return [];
  const records: string[] = [];
  for (const [partition, ranges] of Object.entries(data.offsets)) {
    if (!Array.isArray(ranges)) continue;
    for (const [first, last] of ranges) {
      for (let offset = BigInt(String(first)); offset <= BigInt(String(last)); offset++)
        records.push(`${data.topic}/${partition}/${offset}`);
    }
  }
  return records;
}
