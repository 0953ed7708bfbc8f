/**
 * A burst of redelivered records (a KafkaSource restart after a lost commit) forms a batch of records main mostly
 * holds already: the auditor finds their unique keys on main, the batch fails the gate, and the publisher publishes a failed
 * batch's untrusted rows. Those records must not land a second time, in `_untrusted` either — although the batch that
 * published them first had no untrusted rows, so only the production table's summary records their coordinates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventJson, fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { BatchAudited } from '../../shared/events/contract.ts';
import type { FloeFunction, FunctionContext } from '../../shared/runtime/function-host.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ FLOE_BATCH_LINGER_MS: '50' });
});
afterAll(() => stack?.stop());

function kafkaEvent(offset: number): CloudEventMessage {
  return fromHttp(
    {
      'ce-specversion': '1.0',
      'ce-id': `partition:0/offset:${offset}`,
      'ce-type': 'dev.knative.kafka.event',
      'ce-source': '/apis/v1/namespaces/floe/kafkasources/parking-entry#parking-entry',
      'ce-floekafkatopic': 'parking-entry',
      'ce-key': `car-${offset}`,
      'ce-partitionkey': `car-${offset}`,
      'content-type': 'application/json',
    },
    Buffer.from(
      JSON.stringify({
        event_id: `ev-${offset}`,
        timestamp: new Date(Date.now() - 60_000).toISOString(),
        car_id: `B-${offset}`,
        slot: `A-${offset}`,
        latitude: 52.5205,
        longitude: 13.405,
      }),
    ),
  );
}

/** Runs events through a function; returns its replies and what it emitted, the writer's batches included. */
function step(fn: FloeFunction) {
  const emitted: CloudEventMessage[] = [];
  const context: FunctionContext = {
    log: silentLogger,
    metrics: createFunctionMetrics(fn.name, { defaultMetrics: false }),
    emit: async (e) => void emitted.push(e),
  };
  return async (events: CloudEventMessage[]): Promise<CloudEventMessage[]> => {
    const replies = await Promise.all(events.map((e) => fn.handle(context, e)));
    return [...replies.filter((r): r is CloudEventMessage => Boolean(r)), ...emitted.splice(0)];
  };
}

describe('a failed batch of redelivered records', () => {
  it('publishes none of the records main already holds, in _untrusted either', async () => {
    const { runtime } = stack;
    const [tag, write, audit, publish] = [taggerFunction, writerFunction, auditorFunction, publisherFunction].map(
      (make) => step(make(runtime)),
    );
    const chain = async (records: CloudEventMessage[]) => {
      const audited = await audit(await write(await tag(records)));
      await publish(audited);
      return audited.map((e) => eventJson<BatchAudited>(e)!);
    };
    const records = Array.from({ length: 25 }, (_, i) => kafkaEvent(i));

    const first = await chain(records);
    expect(first.map((b) => [b.verdict, b.untrusted])).toEqual([['passed', 0]]);
    // The same 25 records again with 5 new ones, in a batch of their own: 25 of its 30 unique keys are on main, so it
    // fails the gate, and its rows go to _untrusted — the 5 new ones only.
    const fresh = Array.from({ length: 5 }, (_, i) => kafkaEvent(25 + i));
    const again = await chain([...records, ...fresh]);
    expect(again.map((b) => b.verdict)).toEqual(['failed']);

    const { trusted, untrusted } = await stack.mainRows('parking_entry');
    const offsets = (rows: Record<string, unknown>[]) =>
      rows.map((row) => Number(row[Column.offset])).sort((a, b) => a - b);
    expect(offsets(trusted)).toEqual(records.map((_, i) => i));
    expect(offsets(untrusted)).toEqual([25, 26, 27, 28, 29]);
  });
});
