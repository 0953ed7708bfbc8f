/** The Kafka record → CloudEvent mapping of the KafkaSource stand-in, against NOTES §1.2. */
import { describe, expect, it } from 'vitest';
import { toHttpBinary } from '../../shared/events/cloudevent.ts';
import { javaOffsetDateTime, recordToEvent, type KafkaRecord } from '../../local/kafka-source/index.ts';

const ordersIngest = { name: 'orders-ingest', namespace: 'pipeline', extensions: { pipeline: 'orders' } };

function record(fields: Partial<KafkaRecord> = {}): KafkaRecord {
  return {
    topic: 'orders',
    partition: 3,
    offset: '1042',
    timestamp: String(Date.parse('2026-07-31T10:11:12.345Z')),
    key: Buffer.from('order-17'),
    value: Buffer.from('{"orderId":17,"amount":12.5}'),
    headers: { 'content-type': Buffer.from('application/json'), 'X-Trace-Id': Buffer.from('abc') },
    ...fields,
  };
}

describe('recordToEvent', () => {
  it('sends a plain record exactly as KafkaSource does (NOTES §1.2 example)', () => {
    const { headers, body } = toHttpBinary(recordToEvent(record(), ordersIngest));
    expect(headers).toEqual({
      'ce-specversion': '1.0',
      'ce-id': 'partition:3/offset:1042',
      'ce-source': '/apis/v1/namespaces/pipeline/kafkasources/orders-ingest#orders',
      'ce-type': 'dev.knative.kafka.event',
      'ce-subject': 'partition:3#1042',
      'ce-time': '2026-07-31T10:11:12.345Z',
      'content-type': 'application/json',
      'ce-key': 'order-17',
      'ce-partitionkey': 'order-17',
      'ce-kafkaheaderxtraceid': 'abc',
      'ce-knativekafkapartition': '3',
      'ce-knativekafkaoffset': '1042',
      'ce-pipeline': 'orders',
    });
    expect(Buffer.from(body).toString()).toBe('{"orderId":17,"amount":12.5}');
  });

  it('leaves out what the record does not carry: no content-type, no key, no value', () => {
    const event = recordToEvent(record({ headers: {}, key: null, value: null }), ordersIngest);
    expect(event.attributes.datacontenttype).toBeUndefined();
    expect(event.attributes.key).toBeUndefined();
    expect(event.attributes.partitionkey).toBeUndefined();
    expect(event.data.byteLength).toBe(0);
    expect(recordToEvent(record({ key: Buffer.from('') }), ordersIngest).attributes.key).toBeUndefined();
  });

  it('lower-cases the content type, keeps the last of repeated headers and drops characters from header names', () => {
    const event = recordToEvent(
      record({ headers: { 'Content-Type': 'Application/JSON', 'x_Trace.ID-2': ['first', Buffer.from('second')] } }),
      ordersIngest,
    );
    expect(event.attributes.datacontenttype).toBe('application/json');
    expect(event.attributes.kafkaheaderxtraceid2).toBe('second');
    expect(event.attributes.kafkaheadercontenttype).toBeUndefined();
  });

  it('keeps 64-bit offsets exact in id, subject and knativekafkaoffset', () => {
    const event = recordToEvent(record({ offset: '9223372036854775806' }), ordersIngest);
    expect(event.attributes).toMatchObject({
      id: 'partition:3/offset:9223372036854775806',
      subject: 'partition:3#9223372036854775806',
      knativekafkaoffset: '9223372036854775806',
    });
  });

  it('writes times as Java ISO_OFFSET_DATE_TIME: whole seconds without a fraction, no trailing zeros', () => {
    expect(javaOffsetDateTime(Date.parse('2026-07-31T10:11:12.000Z'))).toBe('2026-07-31T10:11:12Z');
    expect(javaOffsetDateTime(Date.parse('2026-07-31T10:11:12.300Z'))).toBe('2026-07-31T10:11:12.3Z');
    expect(javaOffsetDateTime(Date.parse('2026-07-31T10:11:12.345Z'))).toBe('2026-07-31T10:11:12.345Z');
  });

  it('forwards a structured CloudEvent record as itself, plus partition, offset and ceOverrides', () => {
    const own =
      '{"specversion":"1.0","id":"evt-1","source":"/cameras/7","type":"dev.floe.camera.shot","time":"2026-07-31T10:00:00Z","floetopic":"parking-entry","data":{"n":18446744073709551615}}';
    const event = recordToEvent(
      record({ headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, value: Buffer.from(own) }),
      ordersIngest,
    );
    expect(event.attributes).toEqual({
      specversion: '1.0',
      id: 'evt-1',
      source: '/cameras/7',
      type: 'dev.floe.camera.shot',
      time: '2026-07-31T10:00:00Z',
      floetopic: 'parking-entry',
      datacontenttype: 'application/json',
      knativekafkapartition: '3',
      knativekafkaoffset: '1042',
      pipeline: 'orders',
    });
    expect(Buffer.from(event.data).toString()).toBe('{"n":18446744073709551615}');
  });

  it('forwards a binary CloudEvent record (ce_ headers) as itself, values unchanged', () => {
    const event = recordToEvent(
      record({
        key: Buffer.from('car-1'),
        headers: {
          ce_specversion: '1.0',
          ce_id: 'evt-2',
          ce_source: '/gate/%41',
          ce_type: 'dev.floe.gate',
          'content-type': 'text/plain',
        },
        value: Buffer.from('open'),
      }),
      ordersIngest,
    );
    expect(event.attributes).toEqual({
      specversion: '1.0',
      id: 'evt-2',
      source: '/gate/%41',
      type: 'dev.floe.gate',
      datacontenttype: 'text/plain',
      knativekafkapartition: '3',
      knativekafkaoffset: '1042',
      pipeline: 'orders',
    });
    expect(Buffer.from(event.data).toString()).toBe('open');
  });

  it('wraps a record that claims to be a CloudEvent but does not parse, like a plain record', () => {
    const event = recordToEvent(
      record({ headers: { ce_specversion: '1.0', ce_id: 'no-source-or-type' } }),
      ordersIngest,
    );
    expect(event.attributes).toMatchObject({
      type: 'dev.knative.kafka.event',
      id: 'partition:3/offset:1042',
      kafkaheadercespecversion: '1.0',
      kafkaheaderceid: 'no-source-or-type',
    });
  });
});
