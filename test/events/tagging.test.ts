import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { fromHttp, eventJson, InvalidEventError } from '../../shared/events/cloudevent.ts';
import { taggedRecordSchema, type FileRef } from '../../shared/events/contract.ts';
import { stat, utimes } from 'node:fs/promises';
import {
  storeBlob,
  tagRecord,
  taggedEvent,
  UnroutableRecordError,
  type TaggingContext,
} from '../../functions/tagger/tagging.ts';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = await tempDir('floe-tag');
afterAll(() => tmp.cleanup());

const config = parsePipelineConfig({
  claimCheck: { inlineMaxBytes: 16 },
  topics: {
    'parking-entry': { table: 'parking_entry', binaryFields: ['image'] },
    logs: { table: 'app_logs', format: 'text' },
  },
});
const ctx: TaggingContext = {
  config,
  io: createFileIO({ localFiles: true }),
  warehouse: `file://${tmp.dir}/`,
  now: () => new Date('2026-11-22T10:00:00Z'),
};

function kafkaEvent(topic: string, offset: string, body: string | Uint8Array, extra: Record<string, string> = {}) {
  return fromHttp(
    {
      'ce-specversion': '1.0',
      'ce-id': `partition:2/offset:${offset}`,
      'ce-type': 'dev.knative.kafka.event',
      'ce-source': `/apis/v1/namespaces/floe/kafkasources/src#${topic}`,
      'ce-time': '2026-11-22T09:59:59.000Z',
      'ce-key': 'car-7',
      'ce-partitionkey': 'car-7',
      'ce-knativekafkapartition': '2',
      'ce-knativekafkaoffset': offset,
      'ce-kafkaheaderxtraceid': 'abc',
      ...extra,
    },
    typeof body === 'string' ? Buffer.from(body) : body,
  );
}

describe('tagger', () => {
  it('tags a JSON record, claim-checks its image and keeps 64-bit values exact', async () => {
    const image = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]);
    const event = kafkaEvent(
      'parking-entry',
      '9223372036854775807',
      JSON.stringify({ event_id: 'e1', car_id: 'AB-123', image: image.toString('base64') }).replace(
        '"e1"',
        '"e1","big":9007199254740993',
      ),
    );
    const record = await tagRecord(ctx, event);
    expect(taggedRecordSchema.parse(record)).toBeTruthy();
    expect(record).toMatchObject({
      topic: 'parking-entry',
      partition: 2,
      offset: '9223372036854775807',
      key: 'car-7',
      table: 'parking_entry',
      status: 'ok',
    });
    expect(record.payload?.big).toBe(9007199254740993n);
    expect(record.headers).toEqual({ xtraceid: 'abc' });
    const ref = record.payload?.image as FileRef;
    const sha = createHash('sha256').update(image).digest('hex');
    expect(ref).toMatchObject({ sha256: sha, size_bytes: image.length, content_type: 'image/jpeg' });
    expect(ref.inline).toBeUndefined();
    expect(Buffer.from(await ctx.io.read(ref.uri)).equals(image)).toBe(true);

    const reply = taggedEvent(record);
    expect(reply.attributes).toMatchObject({
      type: 'dev.floe.record.tagged',
      id: 'parking-entry/2/9223372036854775807',
      // The source partition, not the record key: see taggedEvent.
      partitionkey: 'parking-entry-2',
      floetable: 'parking_entry',
    });
    expect(eventJson<{ payload: { big: bigint } }>(reply)?.payload.big).toBe(9007199254740993n);
  });

  it('writes an old blob again so a new row never refers to one the janitor may be deleting', async () => {
    const bytes = Buffer.from('the same camera frame twice');
    const first = await storeBlob(ctx, 'parking_entry', bytes);
    const file = first.uri.slice('file://'.length);
    // Age the blob on the context's clock, the one storeBlob judges freshness by (not the wall clock).
    const longAgo = new Date(ctx.now!().getTime() - 5 * 86_400_000);
    await utimes(file, longAgo, longAgo);
    await storeBlob(ctx, 'parking_entry', bytes);
    expect((await stat(file)).mtime.getTime()).toBeGreaterThan(longAgo.getTime() + 86_400_000);
    expect(Buffer.from(await ctx.io.read(first.uri)).equals(bytes)).toBe(true);
  });

  it('stores a new blob with one create-if-absent write, and leaves a young one as it is', async () => {
    // The real local store, with the calls counted: on S3 each call is a request.
    const calls: string[] = [];
    const io = createFileIO({ localFiles: true });
    const counted: TaggingContext = {
      ...ctx,
      // "Young" is judged against the blob's mtime, which the file system sets from the wall clock.
      now: () => new Date(),
      io: {
        ...io,
        head: (location) => (calls.push('head'), io.head(location)),
        write: (location, body, options) => (
          calls.push(`write${options?.ifNoneMatch ? ' if absent' : ''}`),
          io.write(location, body, options)
        ),
      },
    };
    const bytes = Buffer.from('a frame seen once, then redelivered');
    const ref = await storeBlob(counted, 'parking_entry', bytes);
    expect(calls).toEqual(['write if absent']);
    const written = (await stat(ref.uri.slice('file://'.length))).mtimeMs;

    calls.length = 0;
    expect(await storeBlob(counted, 'parking_entry', bytes)).toEqual(ref);
    expect(calls).toEqual(['write if absent', 'head']);
    expect((await stat(ref.uri.slice('file://'.length))).mtimeMs).toBe(written);
  });

  it('keeps small binaries inline and accepts data URLs', async () => {
    const record = await tagRecord(
      ctx,
      kafkaEvent(
        'parking-entry',
        '5',
        JSON.stringify({ image: `data:image/png;base64,${Buffer.from('tiny').toString('base64')}` }),
      ),
    );
    expect(record.payload?.image).toMatchObject({
      content_type: 'image/png',
      size_bytes: 4,
      inline: Buffer.from('tiny').toString('base64'),
    });
  });

  it('decodes base64 with line breaks and base64url alike, and refuses what is not base64', async () => {
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const standard = bytes.toString('base64');
    for (const [n, text] of [standard, standard.replace(/(.{76})/g, '$1\r\n'), bytes.toString('base64url')].entries()) {
      const record = await tagRecord(ctx, kafkaEvent('parking-entry', String(20 + n), JSON.stringify({ image: text })));
      expect(record.status).toBe('ok');
      expect(record.payload?.image).toMatchObject({ sha256: sha, size_bytes: 300 });
    }
    for (const [n, text] of ['not base64!', 'QUJD\nR', 'QUJDR'].entries()) {
      const record = await tagRecord(ctx, kafkaEvent('parking-entry', String(30 + n), JSON.stringify({ image: text })));
      expect(record.status).toBe('malformed');
      expect(record.error).toMatch(/field 'image': not valid base64/);
    }
  });

  it('marks unparsable values malformed and keeps the raw bytes', async () => {
    for (const [body, reason] of [
      ['{"event_id": "e1",', /not valid JSON/],
      ['[1,2]', /not an object/],
      ['{"image": 42}', /field 'image'/],
    ] as const) {
      const record = await tagRecord(ctx, kafkaEvent('parking-entry', '7', body));
      expect(record.status).toBe('malformed');
      expect(record.error).toMatch(reason);
      expect(Buffer.from(record.raw!, 'base64').toString()).toBe(body);
      expect(record.payload).toBeUndefined();
    }
    const binary = await tagRecord(ctx, kafkaEvent('parking-entry', '8', Uint8Array.from([0xc3, 0x28])));
    expect(binary.error).toMatch(/UTF-8/);
  });

  it('routes text topics, opaque binaries and unknown topics', async () => {
    expect((await tagRecord(ctx, kafkaEvent('logs', '1', 'GET /health 200'))).payload).toEqual({
      message: 'GET /health 200',
    });
    const blob = await tagRecord(
      ctx,
      kafkaEvent('parking-entry', '2', Uint8Array.from([1, 2, 3]), { 'content-type': 'application/octet-stream' }),
    );
    expect(blob.payload?.value).toMatchObject({ size_bytes: 3, content_type: 'application/octet-stream' });
    expect((await tagRecord(ctx, kafkaEvent('Other.Topic', '3', '{}'))).table).toBe('other_topic');
    const strict = { ...ctx, config: { ...config, routeUnknownTopics: false } };
    await expect(tagRecord(strict, kafkaEvent('Other.Topic', '3', '{}'))).rejects.toBeInstanceOf(UnroutableRecordError);
  });

  it('passes records that are CloudEvents through, with the topic from floekafkatopic', async () => {
    const event = fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': 'sensor-42',
        'ce-type': 'com.example.sensor.reading',
        'ce-source': '/sensors/7',
        'ce-knativekafkapartition': '0',
        'ce-knativekafkaoffset': '11',
        'ce-floekafkatopic': 'parking-entry',
        'content-type': 'application/json',
      },
      Buffer.from('{"temp": 21.5}'),
    );
    const record = await tagRecord(ctx, event);
    expect(record).toMatchObject({
      topic: 'parking-entry',
      partition: 0,
      offset: '11',
      status: 'ok',
      payload: { temp: 21.5 },
    });
    expect(record.headers).toMatchObject({ ce_type: 'com.example.sensor.reading', ce_id: 'sensor-42' });
  });

  it("takes a plain record's coordinates from the id and source the KafkaSource set, not from knativekafka* a Broker rewrote", async () => {
    // What a Kafka Broker Trigger delivers: the KafkaSource's id/source, the Broker topic's partition and offset.
    const viaBroker = kafkaEvent('parking-entry', '9007199254740993', '{"n":1}', {
      'ce-knativekafkapartition': '4',
      'ce-knativekafkaoffset': '77',
    });
    const record = await tagRecord(ctx, viaBroker);
    expect(record).toMatchObject({
      topic: 'parking-entry',
      partition: 2,
      offset: '9007199254740993',
      sourceId: 'partition:2/offset:9007199254740993',
    });
    expect(taggedEvent(record).attributes.id).toBe('parking-entry/2/9007199254740993');
    // and without the extensions at all
    const bare = fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': 'partition:0/offset:5',
        'ce-type': 'dev.knative.kafka.event',
        'ce-source': '/apis/v1/namespaces/floe/kafkasources/src#logs',
        'ce-floekafkatopic': 'logs',
      },
      Buffer.from('line'),
    );
    expect(await tagRecord(ctx, bare)).toMatchObject({ topic: 'logs', partition: 0, offset: '5' });
  });

  it("takes a CloudEvent record's coordinates from the KafkaSource's extensions, also one typed like a wrapped record", async () => {
    // A KafkaSource event of another source's topic, produced to Kafka as a CloudEvent: its id names that topic's
    // record, so it is a CloudEvent record of parking-entry like any other.
    const foreign = fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': 'partition:0/offset:3',
        'ce-type': 'dev.knative.kafka.event',
        'ce-source': '/apis/v1/namespaces/floe/kafkasources/src#elsewhere',
        'ce-knativekafkapartition': '1',
        'ce-knativekafkaoffset': '40',
        'ce-floekafkatopic': 'parking-entry',
        'content-type': 'application/json',
      },
      Buffer.from('{"n":2}'),
    );
    const record = await tagRecord(ctx, foreign);
    expect(record).toMatchObject({ topic: 'parking-entry', partition: 1, offset: '40' });
    expect(record.headers).toMatchObject({ ce_type: 'dev.knative.kafka.event', ce_id: 'partition:0/offset:3' });
    const withoutCoordinates = fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': 'sensor-43',
        'ce-type': 'com.example.sensor.reading',
        'ce-source': '/sensors/7',
        'ce-floekafkatopic': 'parking-entry',
      },
      Buffer.from('{}'),
    );
    await expect(tagRecord(ctx, withoutCoordinates)).rejects.toThrow(/carries no Kafka coordinates/);
  });

  it('refuses events without Kafka coordinates or topic', async () => {
    const noCoordinates = fromHttp(
      { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 'dev.knative.kafka.event', 'ce-source': '/a#t' },
      Buffer.from('{}'),
    );
    await expect(tagRecord(ctx, noCoordinates)).rejects.toBeInstanceOf(InvalidEventError);
    const noTopic = fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': 'partition:0/offset:1',
        'ce-type': 'dev.knative.kafka.event',
        'ce-source': '/apis/v1/x',
      },
      Buffer.from('{}'),
    );
    await expect(tagRecord(ctx, noTopic)).rejects.toThrow(/does not name a topic/);
  });
});
