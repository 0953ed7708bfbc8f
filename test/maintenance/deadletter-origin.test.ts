/**
 * Where a dead letter is replayed to depends on who sent it: a KafkaSource's goes back to the sink it failed at (no
 * Trigger routes Kafka records), anything a Trigger dead-lettered goes to the Broker — even though the Kafka Broker
 * stamps its own knativekafkapartition/knativekafkaoffset on every event a Trigger delivers.
 */
import { describe, expect, it } from 'vitest';
import { fromKafkaSource, replayTarget, type StoredDeadLetter } from '../../shared/maintenance/deadletter-replay.ts';

function letter(attributes: Record<string, string>, destination: string): StoredDeadLetter {
  return {
    location: 'file:///dl.json',
    id: attributes.id,
    type: attributes.type,
    destination,
    attributes,
    data: new Uint8Array(),
  };
}

describe("a dead letter's origin", () => {
  it('is a KafkaSource when the event names its topic in floekafkatopic', () => {
    const record = letter(
      {
        id: 'partition:1/offset:7',
        type: 'dev.knative.kafka.event',
        source: '/apis/v1/namespaces/floe/kafkasources/parking-entry#parking-entry',
        floekafkatopic: 'parking-entry',
        knativekafkapartition: '1',
        knativekafkaoffset: '7',
      },
      'http://tagger.floe.svc.cluster.local',
    );
    expect(fromKafkaSource(record)).toBe(true);
    expect(replayTarget(record, 'http://broker-ingress/floe/default')).toBe('http://tagger.floe.svc.cluster.local');
  });

  it("is the Broker for an event a Trigger delivered, with the Kafka Broker's position on it", () => {
    const batch = letter(
      {
        id: 'b-1',
        type: 'dev.floe.batch.written',
        source: '/floe/writer',
        floetopic: 'parking-entry',
        knativekafkapartition: '4',
        knativekafkaoffset: '912',
      },
      'http://auditor.floe.svc.cluster.local',
    );
    expect(fromKafkaSource(batch)).toBe(false);
    expect(replayTarget(batch, 'http://broker-ingress/floe/default')).toBe('http://broker-ingress/floe/default');
  });
});
