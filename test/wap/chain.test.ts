/**
 * The function chain in-process (handlers called directly, as the host would): KafkaSource events → tagger → writer
 * (group commit) → auditor → publisher, with every event redelivered, out of order, and crashes between steps.
 * Invariant checked each time: every Kafka record is on main exactly once (production or _untrusted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { FloeFunction, FunctionContext } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ FLOE_BATCH_LINGER_MS: '50' });
});
afterAll(() => stack?.stop());

function kafkaEvent(topic: string, partition: number, offset: number, value: string): CloudEventMessage {
  return fromHttp(
    {
      'ce-specversion': '1.0',
      'ce-id': `partition:${partition}/offset:${offset}`,
      'ce-type': 'dev.knative.kafka.event',
      'ce-source': `/apis/v1/namespaces/floe/kafkasources/parking#${topic}`,
      'ce-time': new Date().toISOString(),
      'ce-key': `car-${offset}`,
      'ce-partitionkey': `car-${offset}`,
      'ce-knativekafkapartition': String(partition),
      'ce-knativekafkaoffset': String(offset),
      'content-type': 'application/json',
    },
    Buffer.from(value),
  );
}

function entry(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    event_id: `ev-${i}`,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    car_id: `B-${i}`,
    slot: `A-${String(i % 50).padStart(3, '0')}`,
    latitude: 52.5205,
    longitude: 13.405,
    ...extra,
  });
}

/** Runs events through one function, collecting replies and emitted events like a broker would. */
function runner(fn: FloeFunction) {
  const emitted: CloudEventMessage[] = [];
  const context: FunctionContext = {
    log: silentLogger,
    metrics: createFunctionMetrics(fn.name, { defaultMetrics: false }),
    emit: async (e) => void emitted.push(e),
  };
  return {
    emitted,
    async send(events: CloudEventMessage[]): Promise<CloudEventMessage[]> {
      const replies = await Promise.all(events.map((e) => fn.handle(context, e)));
      return replies.filter((r): r is CloudEventMessage => Boolean(r));
    },
  };
}

/**
 * The tagger posts each tagged record to its sink (it is the KafkaSources' sink, and a KafkaSource discards replies):
 * its output, in the order of the records.
 */
function taggerRunner(runtime: Runtime) {
  const fn = taggerFunction(runtime);
  const metrics = createFunctionMetrics(fn.name, { defaultMetrics: false });
  return {
    send: (events: CloudEventMessage[]): Promise<CloudEventMessage[]> =>
      Promise.all(
        events.map(async (event) => {
          const out: CloudEventMessage[] = [];
          await fn.handle({ log: silentLogger, metrics, emit: async (e) => void out.push(e) }, event);
          if (out.length !== 1) throw new Error(`the tagger emitted ${out.length} events for ${event.attributes.id}`);
          return out[0];
        }),
      ),
  };
}

async function coordinatesOnMain(table: string): Promise<string[]> {
  const { trusted, untrusted } = await stack.mainRows(table);
  return [...trusted, ...untrusted].map((r) => `${r[Column.partition]}:${r[Column.offset]}`).sort();
}

describe('the chain under redelivery and crashes', () => {
  it('redelivers every event type twice and out of order without changing main', async () => {
    const tagger = taggerRunner(stack.runtime);
    const writer = runner(writerFunction(stack.runtime));
    const auditor = runner(auditorFunction(stack.runtime));
    const publisher = runner(publisherFunction(stack.runtime));
    const records = Array.from({ length: 30 }, (_, i) =>
      kafkaEvent('parking-entry', i % 3, 100 + i, i === 7 ? '{bad json' : entry(i)),
    );
    // KafkaSource redelivers: the tagger sees everything twice
    const tagged = await tagger.send([...records, ...records]);
    expect(tagged).toHaveLength(60);
    // the writer gets the tagged events twice (in two different batches), in reverse order the second time
    await writer.send(tagged.slice(0, 30));
    await writer.send(tagged.slice(30).reverse());
    expect(writer.emitted.length).toBeGreaterThanOrEqual(2);
    const written = writer.emitted;
    // auditor: each batch.written twice, the second round in reverse order
    const audited1 = await auditor.send(written);
    const audited2 = await auditor.send([...written].reverse());
    expect(audited2.map((e) => e.attributes.nessiehash)).toEqual(
      [...audited1].reverse().map((e) => e.attributes.nessiehash),
    );
    // publisher: batch.audited events of both rounds, interleaved
    const published = await publisher.send([...audited2, ...audited1]);
    expect(published.every((e) => e.attributes.type === 'dev.floe.batch.published')).toBe(true);
    // late redelivery of a batch.written after publication: answered without work (204)
    expect(await auditor.send(written)).toHaveLength(0);
    const onMain = await coordinatesOnMain('parking_entry');
    expect(onMain).toEqual(
      records.map((r) => `${r.attributes.knativekafkapartition}:${r.attributes.knativekafkaoffset}`).sort(),
    );
    const { untrusted } = await stack.mainRows('parking_entry');
    expect(untrusted.map((r) => r[Column.offset])).toEqual([107n]);
  });

  it('a crash after the writer commits but before batch.written is emitted loses nothing once re-driven', async () => {
    const runtime = stack.runtime;
    const writerFn = writerFunction(runtime);
    // the writer "crashes": its emit never reaches the broker
    const context: FunctionContext = {
      log: silentLogger,
      metrics: createFunctionMetrics('writer', { defaultMetrics: false }),
      emit: async () => {
        throw new Error('broker unreachable');
      },
    };
    const tagger = taggerRunner(runtime);
    const tagged = await tagger.send(
      Array.from({ length: 5 }, (_, i) => kafkaEvent('parking-entry', 4, i, entry(1000 + i))),
    );
    await Promise.all(tagged.map((e) => writerFn.handle(context, e)));
    // the branch is the source of truth: its head records the batch.written payload the janitor re-emits
    const branches = (await stack.catalog.client.listReferences()).filter((r) => r.name.startsWith('wap/'));
    expect(branches).toHaveLength(1);
    const head = await stack.catalog.client.getReference(branches[0].name, { fetch: 'ALL' });
    const payload = JSON.parse(head.metadata!.commitMetaOfHEAD!.allProperties['floe.result'][0]);
    const { createEvent } = await import('../../shared/events/cloudevent.ts');
    const redriven = createEvent({
      type: 'dev.floe.batch.written',
      source: '/floe/janitor',
      data: { ...payload, hash: head.hash },
    });
    const audited = await runner(auditorFunction(runtime)).send([redriven]);
    await runner(publisherFunction(runtime)).send(audited);
    expect((await coordinatesOnMain('parking_entry')).filter((c) => c.startsWith('4:'))).toEqual([
      '4:0',
      '4:1',
      '4:2',
      '4:3',
      '4:4',
    ]);
  });

  it('a crash before the writer commits is repaired by Kafka redelivery (records were never acknowledged)', async () => {
    const runtime = stack.runtime;
    const tagged = await taggerRunner(runtime).send(
      Array.from({ length: 3 }, (_, i) => kafkaEvent('parking-entry', 5, i, entry(2000 + i))),
    );
    // first attempt: the catalog is unreachable for the writer → requests fail (5xx → the broker retries)
    const broken = writerFunction({
      ...runtime,
      catalog: {
        ...runtime.catalog,
        client: (await import('../../shared/catalog/nessie/index.ts')).createNessieClient({
          uri: 'http://127.0.0.1:9/api',
          retries: 0,
          timeoutMs: 1000,
        }),
      },
    });
    const context: FunctionContext = {
      log: silentLogger,
      metrics: createFunctionMetrics('writer', { defaultMetrics: false }),
      emit: async () => undefined,
    };
    const failures = await Promise.allSettled(tagged.map((e) => broken.handle(context, e)));
    expect(failures.every((f) => f.status === 'rejected')).toBe(true);
    // redelivery to a healthy writer: the chain completes, exactly once
    const writer = runner(writerFunction(runtime));
    await writer.send(tagged);
    await runner(publisherFunction(runtime)).send(await runner(auditorFunction(runtime)).send(writer.emitted));
    expect((await coordinatesOnMain('parking_entry')).filter((c) => c.startsWith('5:'))).toEqual(['5:0', '5:1', '5:2']);
  });

  it('a new field becomes a column; an incompatible type goes to _untrusted with the reason', async () => {
    const runtime = stack.runtime;
    const chain = async (events: CloudEventMessage[]) => {
      const writer = runner(writerFunction(runtime));
      await writer.send(await taggerRunner(runtime).send(events));
      await runner(publisherFunction(runtime)).send(await runner(auditorFunction(runtime)).send(writer.emitted));
    };
    await chain([kafkaEvent('parking-entry', 6, 0, entry(3000, { gate: 4 }))]);
    let { trusted } = await stack.mainRows('parking_entry');
    expect(trusted.find((r) => r[Column.partition] === 6)?.gate).toBe(4n);
    await chain([kafkaEvent('parking-entry', 6, 1, entry(3001, { gate: 'north' }))]);
    const rows = await stack.mainRows('parking_entry');
    trusted = rows.trusted;
    const bad = rows.untrusted.find((r) => r[Column.partition] === 6 && r[Column.offset] === 1n);
    expect(bad?.[Column.reasons]).toEqual(["type: field 'gate': expected long, got string 'north'"]);
    expect(Buffer.from(bad?.[Column.raw] as Uint8Array).toString()).toContain('"gate":"north"');
  });

  it('answers invalid events with 4xx-class errors instead of crashing', async () => {
    const auditor = auditorFunction(stack.runtime);
    const context: FunctionContext = {
      log: silentLogger,
      metrics: createFunctionMetrics('auditor', { defaultMetrics: false }),
      emit: async () => undefined,
    };
    const wrongType = kafkaEvent('parking-entry', 0, 1, '{}');
    await expect(auditor.handle(context, wrongType)).rejects.toThrow(/unexpected event type/);
    const { createEvent } = await import('../../shared/events/cloudevent.ts');
    await expect(
      auditor.handle(context, createEvent({ type: 'dev.floe.batch.written', source: '/x', data: { batchId: 1 } })),
    ).rejects.toThrow(/invalid payload/);
  });
});
