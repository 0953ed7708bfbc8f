/** Produce: validate each batch, check idempotent sequences, append, and acknowledge per `acks`. */
import type { Broker } from '../broker.ts';
import { flush, type PartitionLog } from '../log/partition-log.ts';
import { checkSequence } from '../log/producer-state.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { produce } from '../protocol/apis/produce.ts';
import { Attr, batchProblem, splitBatches, type BatchHeader } from '../protocol/record-batch.ts';
import { DecodeError } from '../protocol/reader.ts';
import { append } from '../log/partition-log.ts';
import { partitionLog } from '../topics.ts';
import { handler } from './context.ts';

interface PartitionResult {
  index: number;
  errorCode: number;
  baseOffset: bigint;
  logStartOffset: bigint;
}

function problemCode(problem: string): number {
  if (problem.startsWith('unknown compression')) return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
  if (problem.startsWith('CRC') || problem.startsWith('batch length')) return ErrorCode.CORRUPT_MESSAGE;
  return ErrorCode.INVALID_RECORD;
}

/** Validates every batch of a partition before appending any of them. */
function validate(
  broker: Broker,
  records: Buffer | null,
): { batches: { batch: Buffer; header: BatchHeader }[] } | { errorCode: number; message: string } {
  if (!records || records.length === 0) return { errorCode: ErrorCode.INVALID_RECORD, message: 'no record batch' };
  let batches;
  try {
    batches = splitBatches(records);
  } catch (err) {
    if (err instanceof DecodeError) return { errorCode: ErrorCode.CORRUPT_MESSAGE, message: err.message };
    throw err;
  }
  for (const { batch, header } of batches) {
    const problem = batchProblem(batch, header);
    if (problem) return { errorCode: problemCode(problem), message: problem };
    if (batch.length > broker.config.maxMessageBytes)
      return {
        errorCode: ErrorCode.MESSAGE_TOO_LARGE,
        message: `batch of ${batch.length} bytes exceeds ${broker.config.maxMessageBytes}`,
      };
    if (header.attributes & (Attr.transactional | Attr.control))
      return { errorCode: ErrorCode.INVALID_RECORD, message: 'transactional and control batches are not supported' };
  }
  return { batches };
}

function appendPartition(
  broker: Broker,
  log: PartitionLog,
  records: Buffer | null,
): Omit<PartitionResult, 'index'> & { message?: string } {
  const checked = validate(broker, records);
  if ('errorCode' in checked)
    return {
      errorCode: checked.errorCode,
      baseOffset: -1n,
      logStartOffset: log.logStartOffset,
      message: checked.message,
    };
  let first: bigint | null = null;
  for (const { batch, header } of checked.batches) {
    const seq = checkSequence(log.producers, header);
    if (seq.kind === 'error')
      return { errorCode: seq.code, baseOffset: -1n, logStartOffset: log.logStartOffset, message: seq.message };
    const offset = seq.kind === 'duplicate' ? seq.baseOffset : append(log, batch);
    first ??= offset;
  }
  return { errorCode: ErrorCode.NONE, baseOffset: first ?? -1n, logStartOffset: log.logStartOffset };
}

export const produceHandler = handler(produce, async (ctx, req) => {
  const { broker } = ctx;
  const touched = new Set<PartitionLog>();
  const acksValid = req.acks === -1 || req.acks === 0 || req.acks === 1;
  const responses = req.topicData.map((t) => ({
    name: t.name,
    partitionResponses: t.partitionData.map((p): PartitionResult => {
      const log = partitionLog(broker.topics, t.name, p.index);
      const refuse = (errorCode: number) => ({ index: p.index, errorCode, baseOffset: -1n, logStartOffset: -1n });
      if (!acksValid) return refuse(ErrorCode.INVALID_REQUIRED_ACKS);
      if (req.transactionalId !== null) return refuse(ErrorCode.INVALID_REQUEST);
      if (!log) return refuse(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      const result = appendPartition(broker, log, p.records);
      if (result.errorCode === ErrorCode.NONE) touched.add(log);
      else
        broker.logger.warn(
          { topic: t.name, partition: p.index, errorCode: result.errorCode, client: ctx.header.clientId },
          `produce refused: ${result.message}`,
        );
      return {
        index: p.index,
        errorCode: result.errorCode,
        baseOffset: result.baseOffset,
        logStartOffset: result.logStartOffset,
      };
    }),
  }));
  if (req.transactionalId !== null)
    broker.logger.warn(
      { transactionalId: req.transactionalId },
      'transactional produce refused: transactions are not supported',
    );
  if (req.acks === 0) return null;
  if (broker.config.fsync === 'always') await Promise.all([...touched].map(flush));
  return { responses, throttleTimeMs: 0 };
});
