/** ListOffsets: -2 earliest, -1 latest, otherwise the first record at or after the timestamp. */
import { logEndOffset, offsetForTimestamp } from '../log/partition-log.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { listOffsets } from '../protocol/apis/list-offsets.ts';
import { partitionLog } from '../topics.ts';
import { handler } from './context.ts';

const LATEST = -1n;
const EARLIEST = -2n;

export const listOffsetsHandler = handler(listOffsets, async (ctx, req) => ({
  throttleTimeMs: 0,
  topics: await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async (p) => {
          const log = partitionLog(ctx.broker.topics, t.name, p.partitionIndex);
          if (!log)
            return {
              partitionIndex: p.partitionIndex,
              errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
              oldStyleOffsets: [],
            };
          let found: { offset: bigint; timestamp: bigint } | null;
          if (p.timestamp === LATEST) found = { offset: logEndOffset(log), timestamp: -1n };
          else if (p.timestamp === EARLIEST) found = { offset: log.logStartOffset, timestamp: -1n };
          else {
            const hit = await offsetForTimestamp(log, Number(p.timestamp));
            found = hit && { offset: hit.offset, timestamp: BigInt(hit.timestamp) };
          }
          return {
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCode.NONE,
            oldStyleOffsets: found ? [found.offset] : [],
            timestamp: found?.timestamp ?? -1n,
            offset: found?.offset ?? -1n,
          };
        }),
      ),
    })),
  ),
}));
