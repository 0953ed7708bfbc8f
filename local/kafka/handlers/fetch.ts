/**
 * Fetch: read from each requested partition; when fewer than `minBytes` are there, park until appends bring
 * enough or `maxWaitMs` passes (long poll). The response `maxBytes` is honoured except that the first batch
 * found always comes whole, so a consumer can always make progress.
 */
import type { Broker } from '../broker.ts';
import { bytesAfter, logEndOffset, read, type PartitionLog } from '../log/partition-log.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { fetch } from '../protocol/apis/fetch.ts';
import type { RequestOf } from '../protocol/api.ts';
import { partitionLog } from '../topics.ts';
import { handler } from './context.ts';

type FetchRequest = RequestOf<typeof fetch>;

function readAll(broker: Broker, req: FetchRequest) {
  let budget = req.maxBytes;
  let total = 0;
  const responses = req.topics.map((t) => ({
    topic: t.topic,
    partitions: t.partitions.map((p) => {
      const log = partitionLog(broker.topics, t.topic, p.partition);
      if (!log)
        return {
          partitionIndex: p.partition,
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          highWatermark: -1n,
          lastStableOffset: -1n,
          logStartOffset: -1n,
          abortedTransactions: null,
          records: Buffer.alloc(0),
        };
      const end = logEndOffset(log);
      const base = {
        partitionIndex: p.partition,
        highWatermark: end,
        lastStableOffset: end,
        logStartOffset: log.logStartOffset,
        abortedTransactions: null,
      };
      const limit = Math.min(p.partitionMaxBytes, budget);
      const result =
        limit > 0 || total === 0
          ? read(log, p.fetchOffset, Math.max(limit, 1))
          : ({ kind: 'ok', records: Buffer.alloc(0) } as const);
      if (result.kind === 'out-of-range')
        return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, records: Buffer.alloc(0) };
      total += result.records.length;
      budget -= result.records.length;
      return { ...base, errorCode: ErrorCode.NONE, records: result.records };
    }),
  }));
  return { responses, total };
}

function available(broker: Broker, req: FetchRequest): number {
  let sum = 0;
  for (const t of req.topics) {
    for (const p of t.partitions) {
      const log = partitionLog(broker.topics, t.topic, p.partition);
      if (log) sum += bytesAfter(log, p.fetchOffset);
    }
  }
  return sum;
}

/** Resolves when enough bytes arrived, the wait is over, or the connection/broker goes away. */
function waitForBytes(broker: Broker, req: FetchRequest, signal: AbortSignal): Promise<void> {
  const logs: PartitionLog[] = [];
  for (const t of req.topics)
    for (const p of t.partitions) {
      const log = partitionLog(broker.topics, t.topic, p.partition);
      if (log) logs.push(log);
    }
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const log of logs) log.onAppend.delete(onAppend);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const onAppend = () => {
      if (available(broker, req) >= req.minBytes) done();
    };
    const timer = setTimeout(done, req.maxWaitMs);
    for (const log of logs) log.onAppend.add(onAppend);
    signal.addEventListener('abort', done);
    if (signal.aborted) done();
  });
}

export const fetchHandler = handler(fetch, async (ctx, req) => {
  let result = readAll(ctx.broker, req);
  const anyError = result.responses.some((t) => t.partitions.some((p) => p.errorCode !== ErrorCode.NONE));
  if (result.total < req.minBytes && req.maxWaitMs > 0 && !anyError && !ctx.signal.aborted) {
    await waitForBytes(ctx.broker, req, ctx.signal);
    if (!ctx.signal.aborted) result = readAll(ctx.broker, req);
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: result.responses };
});
