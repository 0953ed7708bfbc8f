/**
 * 10,000 records over two topics with ~5% bad ones (malformed JSON, missing required fields, wrong types,
 * out-of-lot coordinates, future timestamps, duplicates; camera images on every parking event) through the chain's
 * functions, in process: per topic, trusted + untrusted on main = records produced, no duplicate, nothing on main that
 * skipped the audit, every image's blob present with the right sha256.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { eventJson } from '../../shared/events/cloudevent.ts';
import type { BatchAudited } from '../../shared/events/contract.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { auditRows } from '../../shared/quality/rules.ts';
import type { FloeFunction, FunctionContext } from '../../shared/runtime/function-host.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import { topicConfig } from '../../shared/runtime/pipeline-config.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { DEFAULT_TOPICS, generateEvents } from '../../local/simulator/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ FLOE_BATCH_LINGER_MS: '100', FLOE_BATCH_MAX_ROWS: '2000' });
});
afterAll(() => stack?.stop());

function context(fn: FloeFunction, emitted: CloudEventMessage[] = []): FunctionContext {
  return {
    log: silentLogger,
    metrics: createFunctionMetrics(fn.name, { defaultMetrics: false }),
    emit: async (e) => void emitted.push(e),
  };
}

/** Runs events through a function with at most `limit` in flight (like a Trigger's concurrency). */
async function deliver(
  fn: FloeFunction,
  events: CloudEventMessage[],
  ctx: FunctionContext,
  limit = 200,
): Promise<CloudEventMessage[]> {
  const replies: CloudEventMessage[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < events.length) {
        const reply = await fn.handle(ctx, events[next++]);
        if (reply) replies.push(reply);
      }
    }),
  );
  return replies;
}

describe('10,000 records through tagger, writer, auditor, publisher', () => {
  it('lands every record exactly once, audited, with its images', async () => {
    const records = generateEvents(2026, 13_000, { badFraction: 0.05 })
      .filter((r) => r.role !== 'sensors')
      .slice(0, 10_000);
    const offsets = new Map<string, number>();
    const events = records.map((r) => {
      const topic = DEFAULT_TOPICS[r.role];
      const offset = offsets.get(topic) ?? 0;
      offsets.set(topic, offset + 1);
      return fromHttp(
        {
          'ce-specversion': '1.0',
          'ce-id': `partition:0/offset:${offset}`,
          'ce-type': 'dev.knative.kafka.event',
          'ce-source': `/apis/v1/namespaces/floe/kafkasources/${topic}#${topic}`,
          'ce-time': new Date().toISOString(),
          'ce-key': r.key,
          'ce-partitionkey': r.key,
          'ce-knativekafkapartition': '0',
          'ce-knativekafkaoffset': String(offset),
          'ce-floekafkatopic': topic,
          'content-type': r.headers['content-type'],
        },
        r.value,
      );
    });
    const tagger = taggerFunction(stack.runtime);
    // The tagger posts its records to its sink (the KafkaSources' sink answers nothing).
    const tagged: CloudEventMessage[] = [];
    await deliver(tagger, events, context(tagger, tagged));
    expect(tagged).toHaveLength(10_000);
    const writer = writerFunction(stack.runtime);
    const written: CloudEventMessage[] = [];
    await deliver(writer, tagged, context(writer, written), 1000);
    const auditor = auditorFunction(stack.runtime);
    const audited = await deliver(auditor, written, context(auditor), 4);
    const publisher = publisherFunction(stack.runtime);
    const outcomes = await deliver(publisher, audited, context(publisher), 4);
    expect(outcomes).toHaveLength(written.length);
    const auditedBatches = new Set(audited.map((e) => eventJson<BatchAudited>(e)!.batchId));

    for (const role of ['entry', 'exit'] as const) {
      const topic = DEFAULT_TOPICS[role];
      const table = topicConfig(stack.env.pipeline, topic)!.table;
      const produced = records.filter((r) => r.role === role);
      const bad = produced.filter((r) => r.bad);
      const { trusted, untrusted } = await stack.mainRows(table);
      // exactly once
      expect(trusted.length + untrusted.length, topic).toBe(produced.length);
      const coordinates = [...trusted, ...untrusted].map((r) => `${r[Column.partition]}:${r[Column.offset]}`);
      expect(new Set(coordinates).size).toBe(produced.length);
      // every bad record is untrusted (duplicates included: within a batch or against main)
      expect(untrusted.length).toBeGreaterThanOrEqual(bad.filter((r) => r.bad !== 'duplicate').length);
      // nothing on main skipped the audit: every row's batch was audited, and the trusted rows pass the rules again
      for (const row of [...trusted, ...untrusted])
        expect(auditedBatches.has(row[Column.batchId] as string)).toBe(true);
      const rules = topicConfig(stack.env.pipeline, topic)!.rules;
      const recheck = auditRows({
        rows: trusted.map((r) => ({ ...r, [Column.errors]: null })),
        rules: { ...rules, unique: [] },
        eventTime: 'timestamp',
        nowMicros: BigInt(Date.now()) * 1000n,
      });
      expect(recheck.untrusted).toEqual([]);
      // claim-check: every image's blob is there with the right content hash
      const images = [...trusted, ...untrusted]
        .map((r) => r.image as { uri: string; sha256: string; size_bytes: bigint } | null)
        .filter((i) => i !== null);
      expect(images.length).toBeGreaterThan(produced.length * 0.9);
      for (const image of images.slice(0, 500)) {
        const bytes = await stack.catalog.io.read(image.uri);
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(image.sha256);
        expect(BigInt(bytes.length)).toBe(image.size_bytes);
      }
    }
  }, 240_000);
});
