/**
 * Bad input on the wire: garbage, a truncated frame, an oversized frame, an unknown API key, unsupported versions,
 * a body that does not decode, a corrupt record batch. Each connection gets the right error or is closed, and the
 * broker goes on serving everyone else.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctxFor } from '../../local/kafka/protocol/api.ts';
import { apiVersions, produce } from '../../local/kafka/protocol/apis/index.ts';
import { ErrorCode } from '../../local/kafka/protocol/errors.ts';
import { encodeBatch } from '../../local/kafka/protocol/record-batch.ts';
import { Reader } from '../../local/kafka/protocol/reader.ts';
import { Writer } from '../../local/kafka/protocol/writer.ts';
import { startTestBroker, type TestBroker } from './helpers/broker.ts';

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker({ maxRequestBytes: 1024 * 1024 });
  await t.broker.createTopic('bad-input', 1);
});
afterAll(async () => {
  await t?.cleanup();
});

/** A raw connection: send bytes, read size-prefixed response frames, see whether the broker closed it. */
async function connect() {
  const socket = net.connect(t.broker.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered = Buffer.alloc(0);
  const frames: Buffer[] = [];
  const waiters: (() => void)[] = [];
  let closed = false;
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      frames.push(buffered.subarray(4, 4 + buffered.readInt32BE(0)));
      buffered = buffered.subarray(4 + buffered.readInt32BE(0));
    }
    wake();
  });
  socket.on('close', () => {
    closed = true;
    wake();
  });
  socket.on('error', () => {});
  const next = async (): Promise<Buffer | 'closed'> => {
    while (!frames.length && !closed) await new Promise<void>((r) => waiters.push(r));
    return frames.shift() ?? 'closed';
  };
  return { socket, next, send: (b: Buffer) => socket.write(b), close: () => socket.destroy() };
}

/** A request frame: size, api key, version, correlation id, client id, (tagged fields), body. */
function request(
  apiKey: number,
  version: number,
  body: Buffer,
  options: { flexible?: boolean; correlationId?: number } = {},
): Buffer {
  const w = new Writer()
    .int16(apiKey)
    .int16(version)
    .int32(options.correlationId ?? 42)
    .nullableString('raw-test');
  if (options.flexible) w.uvarint(0);
  const frame = Buffer.concat([w.toBuffer(), body]);
  return Buffer.concat([new Writer().int32(frame.length).toBuffer(), frame]);
}

async function brokerStillServes() {
  const admin = t.kafka.admin();
  await admin.connect();
  expect(await admin.listTopics()).toContain('bad-input');
  await admin.disconnect();
}

describe('bad input', () => {
  it('garbage bytes (an HTTP request) close the connection', async () => {
    const c = await connect();
    c.send(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    expect(await c.next()).toBe('closed');
    await brokerStillServes();
  });

  it('an oversized frame closes the connection without waiting for its body', async () => {
    const c = await connect();
    c.send(
      new Writer()
        .int32(64 * 1024 * 1024)
        .int16(3)
        .toBuffer(),
    );
    expect(await c.next()).toBe('closed');
    const negative = await connect();
    negative.send(new Writer().int32(-5).toBuffer());
    expect(await negative.next()).toBe('closed');
    await brokerStillServes();
  });

  it('a truncated frame is never answered, and its connection going away leaves the broker unharmed', async () => {
    const c = await connect();
    const whole = request(apiVersions.key, 0, Buffer.alloc(0));
    c.send(whole.subarray(0, whole.length - 3));
    c.socket.end();
    expect(await c.next()).toBe('closed');
    await brokerStillServes();
  });

  it('an unknown API key closes the connection', async () => {
    const c = await connect();
    c.send(request(999, 0, Buffer.alloc(0)));
    expect(await c.next()).toBe('closed');
    const sasl = await connect();
    sasl.send(request(17, 1, new Writer().nullableString('PLAIN').toBuffer()));
    expect(await sasl.next()).toBe('closed');
    await brokerStillServes();
  });

  it('an unsupported version closes the connection, except ApiVersions, which answers UNSUPPORTED_VERSION with its versions', async () => {
    const metadataV99 = await connect();
    metadataV99.send(request(3, 99, Buffer.alloc(0)));
    expect(await metadataV99.next()).toBe('closed');

    const c = await connect();
    c.send(request(apiVersions.key, 7, Buffer.from([0, 0, 0]), { correlationId: 7 }));
    const frame = await c.next();
    expect(Buffer.isBuffer(frame)).toBe(true);
    const r = new Reader(frame as Buffer);
    expect(r.int32()).toBe(7);
    const body = apiVersions.response.read(r, ctxFor(apiVersions, 0));
    expect(body.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
    expect(body.apiKeys.find((k) => k.apiKey === apiVersions.key)).toEqual({
      apiKey: 18,
      minVersion: 0,
      maxVersion: 3,
    });
    // The connection stays usable: the client downgrades to v3 (flexible request header) and gets its answer.
    c.send(
      request(
        apiVersions.key,
        3,
        new Writer().compactNullableString('raw').compactNullableString('1.0').uvarint(0).toBuffer(),
        { flexible: true, correlationId: 8 },
      ),
    );
    const v3 = new Reader((await c.next()) as Buffer);
    expect(v3.int32()).toBe(8); // ApiVersions answers with response header v0 even when flexible
    const ok = apiVersions.response.read(v3, ctxFor(apiVersions, 3));
    expect(ok.errorCode).toBe(0);
    expect(ok.apiKeys.find((k) => k.apiKey === 1)).toEqual({ apiKey: 1, minVersion: 4, maxVersion: 11 });
    c.close();
  });

  it('a body that does not decode closes the connection', async () => {
    const c = await connect();
    // Metadata v1 claiming two billion topics in a body of four bytes.
    c.send(request(3, 1, new Writer().int32(2_000_000_000).toBuffer()));
    expect(await c.next()).toBe('closed');
    const cut = await connect();
    // CreateTopics v0 whose topic name claims more bytes than follow.
    cut.send(request(19, 0, new Writer().int32(1).int16(500).toBuffer()));
    expect(await cut.next()).toBe('closed');
    await brokerStillServes();
  });

  it('a corrupt record batch is refused per partition with CORRUPT_MESSAGE; nothing is appended and the connection stays open', async () => {
    const c = await connect();
    const produceFrame = (records: Buffer, correlationId: number) => {
      const w = new Writer();
      produce.request.write(
        w,
        {
          transactionalId: null,
          acks: -1,
          timeoutMs: 1000,
          topicData: [{ name: 'bad-input', partitionData: [{ index: 0, records }] }],
        },
        ctxFor(produce, 7),
      );
      return request(produce.key, 7, w.toBuffer(), { correlationId });
    };
    const readProduce = async () => {
      const r = new Reader((await c.next()) as Buffer);
      r.int32();
      return produce.response.read(r, ctxFor(produce, 7)).responses[0].partitionResponses[0];
    };
    const batch = await encodeBatch({ records: [{ key: 'k', value: 'v' }] });
    const corrupt = Buffer.from(batch);
    corrupt[corrupt.length - 1] ^= 0xff;
    c.send(produceFrame(corrupt, 1));
    expect(await readProduce()).toMatchObject({ errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1n });
    c.send(produceFrame(batch.subarray(0, 30), 2));
    expect(await readProduce()).toMatchObject({ errorCode: ErrorCode.CORRUPT_MESSAGE });
    c.send(produceFrame(batch, 3));
    expect(await readProduce()).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0n });
    c.close();
  });
});
