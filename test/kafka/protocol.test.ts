/**
 * The protocol layer against real bytes: request bodies as kafkajs encodes them and response bodies recorded from
 * real Kafka brokers (test/fixtures/kafka-protocol). Every fixture of a supported API version must decode to
 * its last byte and encode back to the identical bytes; response decodings are cross-checked against kafkajs's own,
 * independent decoders.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ctxFor, supports, type ApiDef, type RequestOf } from '../../local/kafka/protocol/api.ts';
import * as apis from '../../local/kafka/protocol/apis/index.ts';
import { crc32c } from '../../local/kafka/protocol/crc32c.ts';
import {
  batchCrcMatches,
  decodeRecords,
  encodeBatch,
  readBatchHeader,
} from '../../local/kafka/protocol/record-batch.ts';
import { codecFor, Compression, kafkajsCodecs } from '../../local/kafka/protocol/compression.ts';
import { Reader } from '../../local/kafka/protocol/reader.ts';
import { Writer } from '../../local/kafka/protocol/writer.ts';
import { apiFixtures, fixture } from './helpers/fixtures.ts';

const require = createRequire(import.meta.url);
// kafkajs decodes compressed fixtures (snappy from a Java broker) with our codecs: a check of those codecs too.
Object.assign((require('kafkajs') as { CompressionCodecs: object }).CompressionCodecs, kafkajsCodecs());

const folders: Record<string, ApiDef<any, any>> = {
  apiVersions: apis.apiVersions,
  createTopics: apis.createTopics,
  deleteTopics: apis.deleteTopics,
  describeGroups: apis.describeGroups,
  fetch: apis.fetch,
  findCoordinator: apis.findCoordinator,
  heartbeat: apis.heartbeat,
  initProducerId: apis.initProducerId,
  joinGroup: apis.joinGroup,
  leaveGroup: apis.leaveGroup,
  listOffsets: apis.listOffsets,
  metadata: apis.metadata,
  offsetCommit: apis.offsetCommit,
  offsetFetch: apis.offsetFetch,
  produce: apis.produce,
  syncGroup: apis.syncGroup,
};

/** Fixtures that are not valid bodies on purpose (kafkajs tests its tolerance of a broker bug with it). */
const malformed = new Set(['apiVersions/v1_response_missing_throttle_time.json']);

function roundTrip(api: ApiDef<any, any>, kind: 'request' | 'response', version: number, bytes: Buffer) {
  const schema = kind === 'request' ? api.request : api.response;
  const r = new Reader(bytes);
  const decoded = schema.read(r, ctxFor(api, version));
  const consumed = r.pos;
  const w = new Writer();
  schema.write(w, decoded, ctxFor(api, version));
  return { decoded, consumed, encoded: w.toBuffer() };
}

/** Scalar leaves of a decoded value, as strings (int64s appear as bigints here and strings in kafkajs). */
function leaves(value: unknown, skip: Set<string>, out: string[] = []): string[] {
  if (value === null || value === undefined) return out;
  if (Buffer.isBuffer(value)) return out;
  if (Array.isArray(value)) {
    for (const v of value) leaves(v, skip, out);
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (!skip.has(k)) leaves(v, skip, out);
  } else out.push(String(value));
  return out;
}

function countOf(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

/** kafkajs fields that are not on the wire (decoded payloads, synthetic throttle values). */
const notOnTheWire = new Set([
  'messages',
  'throttleTime',
  'clientSideThrottleTime',
  'memberMetadata',
  'memberAssignment',
  'metadata',
  'assignment',
]);

describe('kafka protocol fixtures', () => {
  for (const [dir, api] of Object.entries(folders)) {
    const files = apiFixtures(dir).filter((f) => supports(api, f.version) && !malformed.has(`${dir}/${f.file}`));
    it(`${api.name}: has fixtures for supported versions`, () => {
      expect(files.length).toBeGreaterThan(0);
    });
    for (const f of files) {
      it(`${api.name} v${f.version} ${f.file}: decodes fully and re-encodes byte for byte`, async () => {
        const bytes = fixture(dir, f.file);
        const { decoded, consumed, encoded } = roundTrip(api, f.kind, f.version, bytes);
        expect(consumed).toBe(bytes.length);
        expect(encoded.equals(bytes)).toBe(true);
        if (f.kind === 'response') {
          const kafkajs = require(`kafkajs/src/protocol/requests/${dir}/v${f.version}/response`) as {
            decode(b: Buffer): Promise<unknown>;
          };
          const theirDecoding = await kafkajs.decode(bytes).catch((err: { type?: string; code?: number }) => err);
          if (theirDecoding instanceof Error) {
            // kafkajs throws on error responses: the same error code must be what we decoded.
            expect((decoded as { errorCode: number }).errorCode).toBe((theirDecoding as { code?: number }).code);
            return;
          }
          const theirs = countOf(leaves(theirDecoding, notOnTheWire));
          const ours = countOf(leaves(decoded, new Set()));
          for (const [value, n] of theirs)
            expect({ value, n: Math.min(n, ours.get(value) ?? 0) }).toEqual({ value, n });
        }
      });
    }
  }

  it('produce v3 request: the record batch inside is valid and decodes like kafkajs decodes it', async () => {
    const { decoded } = roundTrip(apis.produce, 'request', 3, fixture('produce', 'v3_request.json'));
    const records = (decoded as RequestOf<typeof apis.produce>).topicData[0].partitionData[0].records as Buffer;
    expect(batchCrcMatches(records)).toBe(true);
    const ours = await decodeRecords(records);
    const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
      d: unknown,
    ) => Promise<{ records: { key: Buffer; value: Buffer; headers: Record<string, Buffer>; offset: string }[] }>;
    const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
    const theirs = await RecordBatchDecoder(new Decoder(records));
    // kafkajs folds repeated header keys into one array.
    const grouped = (headers: { key: string; value: Buffer | null }[]) => {
      const out: Record<string, string | string[]> = {};
      for (const h of headers) {
        const v = String(h.value);
        const prev = out[h.key];
        out[h.key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      return out;
    };
    const text = (v: Buffer | Buffer[]) => (Array.isArray(v) ? v.map(String) : String(v));
    expect(ours.map((r) => [r.offset.toString(), r.key?.toString(), r.value?.toString(), grouped(r.headers)])).toEqual(
      theirs.records.map((r) => [
        r.offset,
        r.key?.toString(),
        r.value?.toString(),
        Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, text(v as Buffer | Buffer[])])),
      ]),
    );
  });

  it('record batch fixture: CRC32C holds and gzip-compressed records decode', async () => {
    const batch = fixture('recordBatch', 'v0_recordbatch.json');
    const h = readBatchHeader(batch);
    expect([h.magic, h.size, h.attributes & 7, h.recordsCount]).toEqual([2, batch.length, Compression.gzip, 1]);
    expect(batchCrcMatches(batch)).toBe(true);
    const [record] = await decodeRecords(batch);
    expect(record.key?.toString()).toBe('key-0');
    expect(record.value?.toString()).toMatch(/^value-0-/);
  });

  it('record batch fixture with a zstd frame but no compression bit: CRC holds, records are refused, the frame decodes', async () => {
    const batch = fixture('recordBatch', 'v0_recordbatch_zstd.json');
    const h = readBatchHeader(batch);
    expect(h.attributes & 7).toBe(Compression.none);
    expect(batchCrcMatches(batch)).toBe(true);
    await expect(decodeRecords(batch)).rejects.toThrow(/truncated|does not match/);
    const plain = await codecFor(Compression.zstd).decompress(batch.subarray(61));
    expect(plain.toString('latin1')).toContain('Lorem ipsum dolor sit amet');
  });

  it('crc32c matches kafkajs on its CRC payload fixture', () => {
    const payload = fixture('recordBatch', 'crc32C', 'crcPayload.json');
    const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
    expect(crc32c(payload)).toBe(kafkajsCrc(payload) >>> 0);
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('encodeBatch round-trips keys, null values, headers and every compression', async () => {
    for (const compression of Object.values(Compression)) {
      const batch = await encodeBatch({
        compression,
        records: [
          { key: 'k1', value: 'v1', timestamp: 1000, headers: { 'content-type': 'text/plain' } },
          { key: null, value: null, timestamp: 1005 },
        ],
      });
      expect(batchCrcMatches(batch)).toBe(true);
      const records = await decodeRecords(batch);
      expect(
        records.map((r) => [
          r.offset,
          r.timestamp,
          r.key?.toString() ?? null,
          r.value?.toString() ?? null,
          r.headers.map((h) => `${h.key}=${h.value}`),
        ]),
      ).toEqual([
        [0n, 1000, 'k1', 'v1', ['content-type=text/plain']],
        [1n, 1005, null, null, []],
      ]);
    }
  });

  it('flexible versions: compact strings, compact arrays and tagged fields (ApiVersions v3)', () => {
    const api = apis.apiVersions;
    const w = new Writer();
    api.response.write(
      w,
      {
        errorCode: 0,
        apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }],
        throttleTimeMs: 7,
        finalizedFeaturesEpoch: 5n,
      },
      ctxFor(api, 3),
    );
    const bytes = w.toBuffer();
    // error(2) + compact array len(1) + entry(6 + 1 tag byte) + throttle(4) + 1 tagged field: tag(1) size(1) int64(8) → count(1)
    expect(bytes.toString('hex')).toBe(
      ['0000', '02', '0012' + '0000' + '0003' + '00', '00000007', '01', '01', '08', '0000000000000005'].join(''),
    );
    const decoded = api.response.read(new Reader(bytes), ctxFor(api, 3));
    expect(decoded.finalizedFeaturesEpoch).toBe(5n);
    expect(decoded.apiKeys).toEqual([{ apiKey: 18, minVersion: 0, maxVersion: 3 }]);
    const request = new Writer().compactNullableString('rdkafka').compactNullableString('2.0.2').uvarint(0).toBuffer();
    expect(api.request.read(new Reader(request), ctxFor(api, 3))).toEqual({
      clientSoftwareName: 'rdkafka',
      clientSoftwareVersion: '2.0.2',
    });
  });
});
