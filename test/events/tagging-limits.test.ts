/** The tagger under the pipeline's `limits:`: what it refuses, with which reason, and which bytes it keeps. */
import { afterAll, describe, expect, it } from 'vitest';
import { fromHttp } from '../../shared/events/cloudevent.ts';
import { tagRecord, type TaggingContext } from '../../functions/tagger/tagging.ts';
import { parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { createFileIO } from '../../shared/storage/index.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = await tempDir('floe-tag-limits');
afterAll(() => tmp.cleanup());

const ctx: TaggingContext = {
  config: parsePipelineConfig({
    limits: { maxRecordBytes: 200, maxStringLength: 20, maxDepth: 3 },
    topics: {
      json: { table: 'json_t', binaryFields: ['image'] },
      text: { table: 'text_t', format: 'text' },
      bin: { table: 'bin_t', format: 'binary' },
    },
  }),
  io: createFileIO({ localFiles: true }),
  warehouse: `file://${tmp.dir}/`,
};

let offset = 0;
const tag = (topic: string, value: string | Uint8Array) =>
  tagRecord(
    ctx,
    fromHttp(
      {
        'ce-specversion': '1.0',
        'ce-id': `partition:0/offset:${offset}`,
        'ce-type': 'dev.knative.kafka.event',
        'ce-source': `/apis/v1/namespaces/floe/kafkasources/src#${topic}`,
        'ce-knativekafkapartition': '0',
        'ce-knativekafkaoffset': String(offset++),
      },
      typeof value === 'string' ? Buffer.from(value) : value,
    ),
  );
const base64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64');

describe('tagger limits', () => {
  it('keeps the value bytes on every record, good or bad', async () => {
    const good = await tag('json', '{"a":1}');
    expect(good).toMatchObject({ status: 'ok', payload: { a: 1 }, raw: base64('{"a":1}') });
    const bad = await tag('json', '{"a":NaN}');
    expect(bad).toMatchObject({
      status: 'malformed',
      raw: base64('{"a":NaN}'),
      error: expect.stringMatching(/^value is not valid JSON: NaN/),
    });
    expect(bad.payload).toBeUndefined();
  });

  it('refuses what is over a limit, with the limit named', async () => {
    expect(await tag('json', `{"a":"${'x'.repeat(300)}"}`)).toMatchObject({
      status: 'malformed',
      errorKind: 'limit',
      error: expect.stringMatching(/over limits.maxRecordBytes \(200\)/),
    });
    expect(await tag('json', `{"a":"${'x'.repeat(21)}"}`)).toMatchObject({
      errorKind: 'limit',
      error: "field 'a': a string of 21 characters, over limits.maxStringLength (20)",
    });
    expect(await tag('json', '{"a":{"b":{"c":1}}}')).toMatchObject({ status: 'ok' });
    expect(await tag('json', '{"a":{"b":{"c":{"d":1}}}}')).toMatchObject({
      errorKind: 'limit',
      error: "nesting deeper than limits.maxDepth (3) at 'a.b.c'",
    });
    expect(await tag('text', 'y'.repeat(21))).toMatchObject({
      errorKind: 'limit',
      error: 'a text of 21 characters, over limits.maxStringLength (20)',
    });
    // claim-checked binary fields are exempt from the string limit
    expect(await tag('json', `{"image":"${'QUJD'.repeat(10)}"}`)).toMatchObject({ status: 'ok' });
  });

  it('keeps values no column can hold as reasons, not as null', async () => {
    expect(await tag('json', '{"lat":1e400,"ok":2}')).toMatchObject({
      status: 'ok',
      payload: { lat: null, ok: 2 },
      errors: ["field 'lat': number 1e400 is outside the range of a double"],
    });
  });

  it('ignores a UTF-8 byte order mark and keeps it in the bytes', async () => {
    const value = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]);
    expect(await tag('json', value)).toMatchObject({ status: 'ok', payload: { a: 1 }, raw: base64(value) });
  });

  it('does not carry a value claim-checked whole twice: its blob is those bytes', async () => {
    const value = Buffer.alloc(500, 9);
    const record = await tag('bin', value);
    expect(record.status).toBe('ok');
    expect(record.raw).toBeUndefined();
    expect((record.payload!.value as { size_bytes: number }).size_bytes).toBe(500);
  });
});
