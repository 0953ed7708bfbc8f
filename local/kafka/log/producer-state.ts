/**
 * Idempotent-producer state of one partition: per producer id, its epoch and its last five batches' sequence
 * ranges, as Kafka keeps them. A batch with the next sequence is appended, a retried batch (same sequence range as
 * one of the last five) is answered with the offset it got the first time, anything else is an error.
 * The state is rebuilt from batch headers when a log is opened and snapshotted when a segment is rolled.
 */
import { ErrorCode } from '../protocol/errors.ts';
import type { BatchHeader } from '../protocol/record-batch.ts';
import { parseJson, stringifyJson, toLong } from '../../../shared/util/lossless-json.ts';

const KEPT_BATCHES = 5;
const INT32_MAX = 2147483647;

export interface ProducerBatch {
  firstSeq: number;
  lastSeq: number;
  firstOffset: bigint;
  lastOffset: bigint;
}

export interface ProducerEntry {
  epoch: number;
  batches: ProducerBatch[];
}

export type ProducerStates = Map<bigint, ProducerEntry>;

export type SequenceCheck =
  { kind: 'append' } | { kind: 'duplicate'; baseOffset: bigint } | { kind: 'error'; code: ErrorCode; message: string };

export function lastSequence(h: BatchHeader): number {
  return h.baseSequence > INT32_MAX - h.lastOffsetDelta
    ? h.lastOffsetDelta - (INT32_MAX - h.baseSequence) - 1
    : h.baseSequence + h.lastOffsetDelta;
}

export function checkSequence(states: ProducerStates, h: BatchHeader): SequenceCheck {
  if (h.producerId < 0n) return { kind: 'append' };
  const entry = states.get(h.producerId);
  if (!entry) {
    if (h.baseSequence === 0) return { kind: 'append' };
    return {
      kind: 'error',
      code: ErrorCode.UNKNOWN_PRODUCER_ID,
      message: `no state for producer ${h.producerId} and sequence ${h.baseSequence} is not 0`,
    };
  }
  if (h.producerEpoch < entry.epoch) {
    return {
      kind: 'error',
      code: ErrorCode.INVALID_PRODUCER_EPOCH,
      message: `producer ${h.producerId} epoch ${h.producerEpoch} is older than ${entry.epoch}`,
    };
  }
  if (h.producerEpoch > entry.epoch) {
    if (h.baseSequence === 0) return { kind: 'append' };
    return {
      kind: 'error',
      code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      message: `new epoch ${h.producerEpoch} of producer ${h.producerId} must start at sequence 0, got ${h.baseSequence}`,
    };
  }
  const last = lastSequence(h);
  const duplicate = entry.batches.find((b) => b.firstSeq === h.baseSequence && b.lastSeq === last);
  if (duplicate) return { kind: 'duplicate', baseOffset: duplicate.firstOffset };
  const expected = entry.batches.length
    ? entry.batches[entry.batches.length - 1].lastSeq === INT32_MAX
      ? 0
      : entry.batches[entry.batches.length - 1].lastSeq + 1
    : 0;
  if (h.baseSequence !== expected) {
    return {
      kind: 'error',
      code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      message: `producer ${h.producerId} sent sequence ${h.baseSequence}, expected ${expected}`,
    };
  }
  return { kind: 'append' };
}

/** Records an appended batch (its header carries the assigned base offset). */
export function recordBatch(states: ProducerStates, h: BatchHeader): void {
  if (h.producerId < 0n) return;
  let entry = states.get(h.producerId);
  if (!entry || h.producerEpoch > entry.epoch) {
    entry = { epoch: h.producerEpoch, batches: [] };
    states.set(h.producerId, entry);
  }
  entry.batches.push({
    firstSeq: h.baseSequence,
    lastSeq: lastSequence(h),
    firstOffset: h.baseOffset,
    lastOffset: h.baseOffset + BigInt(h.lastOffsetDelta),
  });
  if (entry.batches.length > KEPT_BATCHES) entry.batches.shift();
}

export function serializeProducerStates(states: ProducerStates): string {
  return stringifyJson([...states].map(([id, e]) => ({ id, epoch: e.epoch, batches: e.batches })));
}

export function parseProducerStates(text: string): ProducerStates {
  const rows = parseJson<
    {
      id: unknown;
      epoch: number;
      batches: { firstSeq: number; lastSeq: number; firstOffset: unknown; lastOffset: unknown }[];
    }[]
  >(text);
  return new Map(
    rows.map((r) => [
      toLong(r.id, 'producer id'),
      {
        epoch: r.epoch,
        batches: r.batches.map((b) => ({
          firstSeq: b.firstSeq,
          lastSeq: b.lastSeq,
          firstOffset: toLong(b.firstOffset),
          lastOffset: toLong(b.lastOffset),
        })),
      },
    ]),
  );
}
