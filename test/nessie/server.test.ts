/**
 * The embedded server at the HTTP level: Nessie's error bodies and status codes for bad input (never a 500, never a
 * changed store), reference path forms, and the `Nessie-Client-Spec` rule for `errorDetails`.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';
import { NO_ANCESTOR_HASH, type CommitResponse } from '../../shared/catalog/nessie/index.ts';
import { key, namespace, put, startEmbeddedNessie, table, type EmbeddedNessie } from './helpers.ts';

let nessie: EmbeddedNessie;
let head: string;
let tableId: string;

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; text: string }> {
  const init: RequestInit = {
    method,
    headers: {
      'Nessie-Client-Spec': '2',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
  };
  if (body !== undefined) init.body = typeof body === 'string' ? body : stringifyJson(body);
  const response = await fetch(`${nessie.uri}/v2/${path}`, init);
  const text = await response.text();
  let json: any;
  try {
    json = text ? parseJson(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** The error a request gets, checked to be a well-formed NessieError body. */
async function error(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const r = await call(method, path, body, headers);
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  expect(r.json).toMatchObject({
    status: r.status,
    reason: expect.any(String),
    message: expect.any(String),
    errorCode: expect.any(String),
  });
  return r.json as { status: number; errorCode: string; message: string; errorDetails?: any };
}

beforeAll(async () => {
  nessie = await startEmbeddedNessie({ maxBodyBytes: 64 * 1024 });
  const r = await nessie.client.commit('main', NO_ANCESTOR_HASH, { message: 'setup' }, [
    put(key('ns'), namespace('ns')),
    put(key('ns', 't'), table('s3://t/0', 1n)),
  ]);
  head = r.targetBranch.hash;
  tableId = r.addedContents.find((c) => c.key.elements.length === 2)!.contentId;
});
afterAll(async () => nessie?.stop());

describe('Nessie server: bad input gets the right Nessie error and changes nothing', () => {
  it('unknown references and commits are REFERENCE_NOT_FOUND', async () => {
    expect(await error('GET', 'trees/nope')).toMatchObject({
      status: 404,
      errorCode: 'REFERENCE_NOT_FOUND',
      message: "Named reference 'nope' not found",
    });
    expect(await error('GET', `trees/main@${'ab'.repeat(32)}/contents/ns.t`)).toMatchObject({
      status: 404,
      errorCode: 'REFERENCE_NOT_FOUND',
    });
    expect(
      await error('POST', `trees/main@${'cd'.repeat(32)}/history/commit`, {
        commitMeta: { message: 'x' },
        operations: [],
      }),
    ).toMatchObject({
      status: 404,
      errorCode: 'REFERENCE_NOT_FOUND',
      message: `Could not find commit '${'cd'.repeat(32)}' in reference 'main'.`,
    });
  });

  it('missing content is CONTENT_NOT_FOUND with the key in errorDetails', async () => {
    const e = await error('GET', 'trees/main/contents/ns.missing');
    expect(e).toMatchObject({
      status: 404,
      errorCode: 'CONTENT_NOT_FOUND',
      errorDetails: { type: 'CONTENT_KEY', contentKey: { elements: ['ns', 'missing'] } },
    });
  });

  it('malformed keys and reference names are BAD_REQUEST', async () => {
    expect(await error('GET', 'trees/main/contents/.bad*escape')).toMatchObject({
      status: 400,
      errorCode: 'BAD_REQUEST',
    });
    expect(await error('GET', 'trees/main/contents/a..b')).toMatchObject({
      status: 400,
      message: expect.stringContaining('empty element'),
    });
    expect(
      await error('GET', `trees/main/contents/${Array.from({ length: 21 }, (_, i) => `k${i}`).join('.')}`),
    ).toMatchObject({ status: 400, message: expect.stringContaining('max allowed number of elements: 20') });
    expect(await error('GET', 'trees/bad..name')).toMatchObject({ status: 400, errorCode: 'BAD_REQUEST' });
    expect(
      await error('POST', 'trees?name=HEAD&type=BRANCH', { type: 'BRANCH', name: 'main', hash: head }),
    ).toMatchObject({ status: 400 });
    expect(
      await error('POST', 'trees?name=ok&type=FOLDER', { type: 'BRANCH', name: 'main', hash: head }),
    ).toMatchObject({ status: 400, message: "Reference type name must be either 'branch' or 'tag'" });
    expect(
      await error('POST', `trees/main@${head}/history/commit`, {
        commitMeta: { message: 'x' },
        operations: [{ type: 'PUT', key: { elements: [] }, content: { type: 'NAMESPACE', elements: [] } }],
      }),
    ).toMatchObject({ status: 400 });
  });

  it('writes without an expected hash, or against a wrong one, are rejected', async () => {
    expect(
      await error('POST', 'trees/main/history/commit', { commitMeta: { message: 'x' }, operations: [] }),
    ).toMatchObject({ status: 400, message: 'Expected hash must be provided.' });
    expect(
      await error('POST', 'trees/main~1/history/commit', { commitMeta: { message: 'x' }, operations: [] }),
    ).toMatchObject({ status: 400, message: 'Expected hash must contain a starting commit ID.' });
    expect(await error('POST', 'trees?name=b1&type=BRANCH', { type: 'BRANCH', name: 'main' })).toMatchObject({
      status: 400,
      message: 'Target hash must be provided.',
    });
    expect(await error('POST', `trees/main@${head}/history/merge`, { fromRefName: 'main' })).toMatchObject({
      status: 400,
      message: 'Source hash must be provided.',
    });
    expect(await error('DELETE', `trees/main@${head}`)).toMatchObject({
      status: 400,
      message: "Default branch 'main' cannot be deleted.",
    });
    await call('POST', 'trees?name=tmp&type=BRANCH', { type: 'BRANCH', name: 'main', hash: head });
    const stale = await error('DELETE', `trees/tmp@${NO_ANCESTOR_HASH}`);
    expect(stale).toMatchObject({
      status: 409,
      errorCode: 'REFERENCE_CONFLICT',
      message: `Named-reference 'tmp' is not at expected hash '${NO_ANCESTOR_HASH}', but at '${head}'.`,
    });
    expect(stale.errorDetails.conflicts[0].conflictType).toBe('UNEXPECTED_HASH');
    expect(await error('GET', `trees/main@${head}`)).toMatchObject({
      status: 400,
      message: 'Hashes are not allowed when fetching a reference by name',
    });
  });

  it("content-id misuse is BAD_REQUEST with Nessie's messages", async () => {
    const noId = await error('POST', `trees/main@${head}/history/commit`, {
      commitMeta: { message: 'x' },
      operations: [put(key('ns', 't'), table('s3://t/1', 2n))],
    });
    expect(noId.message).toBe("New value to update existing key 'ns.t' has no content ID");
    const wrongId = await error('POST', `trees/main@${head}/history/commit`, {
      commitMeta: { message: 'x' },
      operations: [put(key('ns', 't'), table('s3://t/1', 2n, '00000000-0000-0000-0000-000000000000'))],
    });
    expect(wrongId.message).toBe(
      `Key 'ns.t' already exists with content ID ${tableId}, which is different from the content ID 00000000-0000-0000-0000-000000000000 in the operation`,
    );
    const dup = await error('POST', `trees/main@${head}/history/commit`, {
      commitMeta: { message: 'x' },
      operations: [
        { type: 'DELETE', key: key('ns', 't') },
        { type: 'DELETE', key: key('ns', 't') },
      ],
    });
    expect(dup.message).toBe('Duplicate key in commit operations: ns.t');
    const committer = await error('POST', `trees/main@${head}/history/commit`, {
      commitMeta: { message: 'x', committer: 'me' },
      operations: [],
    });
    expect(committer.message).toMatch(/Cannot set the committer/);
  });

  it('invalid JSON, wrong shapes, wrong media type and oversized bodies are client errors', async () => {
    expect(await error('POST', `trees/main@${head}/history/commit`, '{"commitMeta": {')).toMatchObject({
      status: 400,
      errorCode: 'BAD_REQUEST',
      message: expect.stringContaining('Malformed JSON'),
    });
    expect(await error('POST', `trees/main@${head}/history/commit`, { operations: 'nope' })).toMatchObject({
      status: 400,
      errorCode: 'BAD_REQUEST',
    });
    expect(
      await error('POST', `trees/main@${head}/history/commit`, {
        commitMeta: { message: 'x' },
        operations: [
          {
            type: 'PUT',
            key: key('ns', 'u'),
            content: {
              type: 'ICEBERG_TABLE',
              metadataLocation: 's3://u',
              snapshotId: 'big',
              schemaId: 0,
              specId: 0,
              sortOrderId: 0,
            },
          },
        ],
      }),
    ).toMatchObject({ status: 400 });
    expect(
      await error('POST', `trees/main@${head}/history/commit`, {
        commitMeta: { message: 'x' },
        operations: [{ type: 'PUT', key: key('ns', 'u'), content: { type: 'MYSTERY' } }],
      }),
    ).toMatchObject({ status: 400 });
    expect(
      await error('POST', `trees/main@${head}/history/commit`, 'x=1', {
        'Content-Type': 'application/x-www-form-urlencoded',
      }),
    ).toMatchObject({ status: 415, errorCode: 'UNSUPPORTED_MEDIA_TYPE' });
    const huge = { commitMeta: { message: 'x'.repeat(200 * 1024) }, operations: [] };
    expect(await error('POST', `trees/main@${head}/history/commit`, huge)).toMatchObject({ status: 413 });
    expect(await error('GET', 'trees/main/entries?filter=entry.contentType.exists(x, true)')).toMatchObject({
      status: 400,
      message: expect.stringContaining('filter'),
    });
    expect(await error('GET', 'trees/main/entries?max-records=abc')).toMatchObject({ status: 400 });
    expect(await error('GET', 'nothing/here')).toMatchObject({ status: 404 });
    expect(await error('PATCH', 'trees/main')).toMatchObject({ status: 405 });
  });

  it('after all that, the store is unchanged and still answers', async () => {
    const main = await call('GET', 'trees/main');
    expect(main.json.reference.hash).toBe(head);
    const log = await call('GET', 'trees/main/history');
    expect(log.json.logEntries.map((e: any) => e.commitMeta.message)).toEqual(['setup']);
  });
});

describe('Nessie server: protocol details', () => {
  it('sends errorDetails only to clients announcing Nessie-Client-Spec 2', async () => {
    const body = { commitMeta: { message: 'x' }, operations: [{ type: 'DELETE', key: key('ns', 'zzz') }] };
    const v2 = await call('POST', `trees/main@${head}/history/commit`, body);
    expect(v2.json.errorDetails.conflicts[0].conflictType).toBe('KEY_DOES_NOT_EXIST');
    const v1 = await call('POST', `trees/main@${head}/history/commit`, body, { 'Nessie-Client-Spec': '1' });
    expect(v1.status).toBe(409);
    expect(v1.json.errorDetails).toBeUndefined();
  });

  it('accepts branch names with / encoded as one segment or raw before @, and the - default branch', async () => {
    await call('POST', 'trees?name=wap%2Fa%2Fb&type=BRANCH', { type: 'BRANCH', name: 'main', hash: head });
    expect((await call('GET', 'trees/wap%2Fa%2Fb%40')).json.reference.name).toBe('wap/a/b');
    expect((await call('GET', `trees/wap/a/b@${head}/contents/ns.t`)).json.content.metadataLocation).toBe('s3://t/0');
    expect((await call('GET', 'trees/-')).json.reference.name).toBe('main');
    expect((await call('GET', `trees/@${head}/contents/ns.t`)).json.effectiveReference).toEqual({
      type: 'DETACHED',
      hash: head,
    });
  });

  it('takes commit metadata from Nessie-Commit-* headers', async () => {
    const r = await call(
      'POST',
      `trees/main@${head}/history/commit`,
      { commitMeta: { message: 'body' }, operations: [put(key('ns', 'h'), table('s3://h', 1n))] },
      {
        'Nessie-Commit-Message': 'from header',
        'Nessie-Commit-Authors': 'a <a@x>, b <b@x>',
        'Nessie-Commit-Property-job': 'j1',
      },
    );
    expect(r.status).toBe(200);
    const committed = r.json as CommitResponse;
    const log = await call('GET', `trees/main@${committed.targetBranch.hash}/history?max-records=1`);
    expect(log.json.logEntries[0].commitMeta).toMatchObject({
      message: 'from header',
      authors: ['a <a@x>', 'b <b@x>'],
      allProperties: { job: ['j1'] },
    });
    head = committed.targetBranch.hash;
  });

  it('decodes gzipped request bodies, as the Java client sends them; a bomb past the limit is 413', async () => {
    const gzip = async (body: unknown) => {
      const response = await fetch(`${nessie.uri}/v2/trees/main/contents`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Nessie-Client-Spec': '2' },
        body: gzipSync(typeof body === 'string' ? body : stringifyJson(body)),
      });
      return { status: response.status, json: parseJson<any>(await response.text()) };
    };
    const read = await gzip({ requestedKeys: [key('ns', 't')] });
    expect(read.status).toBe(200);
    expect(read.json.contents[0].content.metadataLocation).toBe('s3://t/0');
    const bomb = await gzip(stringifyJson({ requestedKeys: [], pad: ' '.repeat(1024 * 1024) }));
    expect(bomb).toMatchObject({ status: 413, json: { errorCode: 'BAD_REQUEST' } });
    expect(
      await error('POST', 'trees/main/contents', { requestedKeys: [] }, { 'Content-Encoding': 'br' }),
    ).toMatchObject({ status: 415, errorCode: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('takes "id": null in new content as no id yet, as the Java client sends it', async () => {
    const content = { type: 'ICEBERG_TABLE', id: null, metadataLocation: 's3://n', snapshotId: 1, schemaId: 0 };
    const r = await call('POST', `trees/main@${head}/history/commit`, {
      commitMeta: { message: 'new table from the Java client' },
      operations: [{ type: 'PUT', key: key('ns', 'n'), content: { ...content, specId: 0, sortOrderId: 0 } }],
    });
    expect(r.status, r.text).toBe(200);
    const committed = r.json as CommitResponse;
    expect(committed.addedContents?.[0].contentId).toMatch(/^[0-9a-f-]{36}$/);
    head = committed.targetBranch.hash;
  });

  it('resolves ~N and ^N relative references', async () => {
    const previous = (await call('GET', 'trees/main~1/contents/ns.t')).json.effectiveReference.hash;
    const log = (await call('GET', 'trees/main/history')).json.logEntries;
    expect(previous).toBe(log[1].commitMeta.hash);
    expect((await call('GET', 'trees/main^1/entries')).json.effectiveReference.hash).toBe(previous);
    expect((await call('GET', 'trees/main~99/entries')).json.effectiveReference.hash).toBe(NO_ANCESTOR_HASH);
  });
});
