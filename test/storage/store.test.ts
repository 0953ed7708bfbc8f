/**
 * One contract (contract.ts), two implementations: the local directory store and the S3 store against a real S3
 * server (s3rver).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { localStore, PreconditionFailedError, s3Store } from '../../shared/storage/index.ts';
import { startS3rver, type RunningS3 } from '../helpers/s3rver.ts';
import { tempDir } from '../helpers/tmp.ts';
import { storeContract } from './contract.ts';

const local = await tempDir('floe-store');
storeContract('local', () => localStore(local.dir), { conditionalPut: true });

let s3: RunningS3;
beforeAll(async () => {
  s3 = await startS3rver(['floe-test']);
});
afterAll(async () => {
  await s3?.stop();
  await local.cleanup();
});
// s3rver ignores If-None-Match (LIBS.md), so create-if-absent is tested against a real S3 server by `npm run test:engines`.
storeContract(
  's3 (s3rver)',
  () =>
    s3Store({
      bucket: 'floe-test',
      prefix: 'warehouse',
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      maxAttempts: 2,
      multipartThreshold: 5 * 1024 * 1024,
    }),
  { conditionalPut: false },
);

describe('local store atomicity', () => {
  it('leaves no temp files behind and concurrent writers never produce a torn object', async () => {
    const { dir, cleanup } = await tempDir('floe-atomic');
    try {
      const store = localStore(dir);
      const versions = Array.from({ length: 20 }, (_, i) => Buffer.alloc(256 * 1024, i));
      const reads: Promise<void>[] = [];
      await Promise.all(
        versions.map(async (body, i) => {
          await store.put('race/obj', body);
          reads.push(
            store.get('race/obj').then((got) => {
              // whatever version a reader sees, it is one whole version
              expect(got.length).toBe(256 * 1024);
              expect(got.every((b) => b === got[0])).toBe(true);
            }),
          );
          void i;
        }),
      );
      await Promise.all(reads);
      expect(await readdir(`${dir}/race`)).toEqual(['obj']);
    } finally {
      await cleanup();
    }
  });
});

describe('S3 store create-if-absent under a concurrent write', () => {
  // A stand-in client: S3's 409 ConditionalRequestConflict (another conditional write of the key in flight) cannot be
  // provoked on moto or s3rver, so the fault is scripted here.
  function scriptedClient(answers: ('conflict' | 'exists' | 'ok')[]) {
    const sent: string[] = [];
    const client = {
      async send(command: { constructor: { name: string }; input: { IfNoneMatch?: string } }) {
        sent.push(`${command.constructor.name}${command.input.IfNoneMatch ? ' if-none-match' : ''}`);
        const answer = answers.shift() ?? 'ok';
        if (answer === 'ok') return {};
        const status = answer === 'conflict' ? 409 : 412;
        throw Object.assign(new Error(answer), {
          name: answer === 'conflict' ? 'ConditionalRequestConflict' : 'PreconditionFailed',
          $metadata: { httpStatusCode: status },
        });
      },
    };
    const store = s3Store({ bucket: 'b', region: 'us-east-1', client: client as never });
    return { store, sent };
  }

  it('retries on 409 until the write succeeds', async () => {
    const { store, sent } = scriptedClient(['conflict', 'conflict', 'ok']);
    await store.put('blob', 'bytes', { ifNoneMatch: '*' });
    expect(sent).toEqual(Array(3).fill('PutObjectCommand if-none-match'));
  });

  it('retries on 409 until the answer is that the object exists', async () => {
    const { store, sent } = scriptedClient(['conflict', 'exists']);
    await expect(store.put('blob', 'bytes', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(sent).toHaveLength(2);
  });

  it('gives up after a bounded number of conflicts with a storage error', async () => {
    const { store, sent } = scriptedClient(Array(10).fill('conflict'));
    await expect(store.put('blob', 'bytes', { ifNoneMatch: '*' })).rejects.toThrow(/S3 request for blob .* failed/);
    expect(sent).toHaveLength(5);
  });
});
