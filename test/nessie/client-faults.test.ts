/**
 * The client's retry and error rules under server faults, and its HTTP behaviour (redirects, compressed answers,
 * connection reuse). This uses a scripted HTTP stub instead of the embedded server on purpose: the faults (Nessie's
 * retry-exhaustion 409 without conflicts, 502/503 from a proxy, a hung or cut-off response, a redirecting proxy)
 * cannot be provoked on a healthy server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNessieClient,
  NessieError,
  NessieReferenceConflictError,
  NessieTransportError,
  NO_ANCESTOR_HASH,
} from '../../shared/catalog/nessie/index.ts';

interface Scripted {
  status: number;
  body?: string;
  /** Never answer (to provoke a client timeout). */
  hang?: boolean;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Send the headers and half the body, then drop the connection. */
  cut?: boolean;
  /** Send `body` gzip-compressed. */
  gzip?: boolean;
}

interface Stub {
  uri: string;
  requests: Array<{ method: string; url: string; authorization?: string; body: string }>;
  /** TCP connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

const stubs: Stub[] = [];
afterEach(async () => {
  for (const stub of stubs.splice(0)) await stub.stop();
});

/** Answers requests with `script` in order (the last entry repeats). */
async function stub(script: Scripted[]): Promise<Stub> {
  const requests: Stub['requests'] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
      const step = script[Math.min(requests.length - 1, script.length - 1)];
      if (step.hang) return;
      const payload = step.gzip ? gzipSync(step.body ?? '') : Buffer.from(step.body ?? '');
      res.writeHead(step.status, {
        'Content-Type': step.body?.startsWith('<') ? 'text/html' : 'application/json',
        'Content-Length': payload.length,
        ...(step.gzip ? { 'Content-Encoding': 'gzip' } : {}),
        ...step.headers,
      });
      if (step.cut) {
        res.write(payload.subarray(0, payload.length >> 1), () => res.socket?.destroy());
        return;
      }
      res.end(payload);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const s: Stub = {
    uri: `http://127.0.0.1:${port}/api`,
    requests,
    connections: () => connections,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  stubs.push(s);
  return s;
}

const commitOk = JSON.stringify({
  targetBranch: { type: 'BRANCH', name: 'main', hash: 'a'.repeat(64) },
  addedContents: [],
});
const reference = JSON.stringify({ reference: { type: 'BRANCH', name: 'main', hash: NO_ANCESTOR_HASH } });
const error = (status: number, errorCode: string, message: string, conflicts?: unknown[]) =>
  JSON.stringify({
    status,
    reason: 'x',
    message,
    errorCode,
    ...(conflicts ? { errorDetails: { type: 'REFERENCE_CONFLICTS', conflicts } } : {}),
  });
const commit = (uri: string, options: Partial<Parameters<typeof createNessieClient>[0]> = {}) =>
  createNessieClient({ uri, retryDelayMs: 1, ...options }).commit('main', NO_ANCESTOR_HASH, { message: 'm' }, []);

describe('Nessie client under faults', () => {
  it('retries a write after a 409 without conflict list (server retry exhaustion) and after 503', async () => {
    const s = await stub([
      {
        status: 409,
        body: error(
          409,
          'REFERENCE_CONFLICT',
          'The commit operation could not be performed after 12 retries within the configured commit timeout after 5000 milliseconds',
        ),
      },
      { status: 503, body: error(503, 'SERVICE_UNAVAILABLE', 'backend') },
      { status: 200, body: commitOk },
    ]);
    const result = await commit(s.uri);
    expect(result.targetBranch.hash).toBe('a'.repeat(64));
    expect(s.requests).toHaveLength(3);
    expect(s.requests.every((r) => r.body === s.requests[0].body)).toBe(true);
  });

  it('does not retry a write on a real conflict, a 500 or a 502, and types the errors', async () => {
    const conflict = await stub([
      {
        status: 409,
        body: error(409, 'REFERENCE_CONFLICT', 'Values differ.', [
          { conflictType: 'VALUE_DIFFERS', key: { elements: ['a'] }, message: 'm' },
          { conflictType: 'SOMETHING_NEW', message: 'n' },
        ]),
      },
    ]);
    const e = await commit(conflict.uri).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NessieReferenceConflictError);
    expect((e as NessieReferenceConflictError).conflicts.map((c) => c.conflictType)).toEqual([
      'VALUE_DIFFERS',
      'UNKNOWN',
    ]);
    expect(conflict.requests).toHaveLength(1);

    for (const status of [500, 502, 504]) {
      const s = await stub([
        { status, body: status === 502 ? '<html>Bad Gateway</html>' : error(status, 'UNKNOWN', 'boom') },
      ]);
      const err = await commit(s.uri).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(NessieError);
      expect((err as NessieError).status).toBe(status);
      expect(s.requests, `status ${status}`).toHaveLength(1);
    }
  });

  it('retries reads on 502/504 but gives up after the configured number of retries', async () => {
    const flaky = await stub([
      { status: 502, body: '<html/>' },
      { status: 504, body: '' },
      { status: 200, body: reference },
    ]);
    expect((await createNessieClient({ uri: flaky.uri, retryDelayMs: 1 }).getReference('main')).name).toBe('main');
    expect(flaky.requests).toHaveLength(3);

    const down = await stub([{ status: 503, body: error(503, 'SERVICE_UNAVAILABLE', 'down') }]);
    await expect(
      createNessieClient({ uri: down.uri, retryDelayMs: 1, retries: 2 }).getReference('main'),
    ).rejects.toMatchObject({ status: 503, errorCode: 'SERVICE_UNAVAILABLE' });
    expect(down.requests).toHaveLength(3);
  });

  it('reports a timed-out write as outcome unknown without retrying it, and a refused connection as safe', async () => {
    const hung = await stub([{ status: 200, hang: true }]);
    const err = await commit(hung.uri, { timeoutMs: 200 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NessieTransportError);
    expect((err as NessieTransportError).outcomeUnknown).toBe(true);
    expect(hung.requests).toHaveLength(1);

    const gone = await stub([{ status: 200, body: commitOk }]);
    const uri = gone.uri;
    await gone.stop();
    stubs.splice(stubs.indexOf(gone), 1);
    const refused = await commit(uri, { retries: 1 }).catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(NessieTransportError);
    expect((refused as NessieTransportError).outcomeUnknown).toBe(false);
  });

  it('sends the bearer token, the client spec header and lossless bodies', async () => {
    const s = await stub([{ status: 200, body: commitOk }]);
    let calls = 0;
    await createNessieClient({ uri: s.uri, token: () => `t${++calls}` }).commit(
      'wap/x',
      'b'.repeat(64),
      { message: 'm' },
      [
        {
          type: 'PUT',
          key: { elements: ['a', 't'] },
          content: {
            type: 'ICEBERG_TABLE',
            metadataLocation: 's3://m',
            snapshotId: 9007199254740993n,
            schemaId: 0,
            specId: 0,
            sortOrderId: 0,
          },
        },
      ],
    );
    expect(s.requests[0].authorization).toBe('Bearer t1');
    expect(s.requests[0].url).toBe(`/api/v2/trees/wap%2Fx%40${'b'.repeat(64)}/history/commit`);
    expect(s.requests[0].body).toContain('"snapshotId":9007199254740993');
  });

  it('does not repeat a write whose answer was cut off, but repeats such a read', async () => {
    const write = await stub([{ status: 200, body: commitOk, cut: true }]);
    const err = await commit(write.uri).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NessieTransportError);
    expect((err as NessieTransportError).outcomeUnknown).toBe(true);
    expect(write.requests).toHaveLength(1);

    const read = await stub([
      { status: 200, body: reference, cut: true },
      { status: 200, body: reference },
    ]);
    expect((await createNessieClient({ uri: read.uri, retryDelayMs: 1 }).getReference('main')).hash).toBe(
      NO_ANCESTOR_HASH,
    );
    expect(read.requests).toHaveLength(2);
  });

  it('follows redirects as fetch does, dropping the token when the origin changes', async () => {
    const target = await stub([{ status: 200, body: commitOk }]);
    const proxy = await stub([
      { status: 307, headers: { Location: `${target.uri}/v2/moved` } },
      { status: 303, headers: { Location: `${target.uri}/v2/seeother` } },
    ]);
    const client = createNessieClient({ uri: proxy.uri, token: 'secret' });
    const result = await client.commit('main', NO_ANCESTOR_HASH, { message: 'm' }, []);
    expect(result.targetBranch.hash).toBe('a'.repeat(64));
    // 307 keeps the method and the body; the other origin never sees the token.
    expect(proxy.requests[0].authorization).toBe('Bearer secret');
    expect(target.requests[0]).toMatchObject({ method: 'POST', url: '/api/v2/moved', body: proxy.requests[0].body });
    expect(target.requests[0].authorization).toBeUndefined();

    // 303 turns the POST into a GET without a body.
    await client.commit('main', NO_ANCESTOR_HASH, { message: 'm' }, []);
    expect(target.requests[1]).toMatchObject({ method: 'GET', url: '/api/v2/seeother', body: '' });
  });

  it('fails on a URI scheme it cannot send to, reporting nothing sent', async () => {
    const err = await commit('ftp://127.0.0.1:1/api').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NessieTransportError);
    expect((err as NessieTransportError).message).toMatch(/unsupported protocol ftp:/);
    expect((err as NessieTransportError).outcomeUnknown).toBe(false);
  });

  it('decodes a gzip-compressed answer and keeps 64-bit ids in it exact', async () => {
    const content = {
      type: 'ICEBERG_TABLE',
      id: 'c1',
      metadataLocation: 's3://m',
      snapshotId: '@@',
      schemaId: 0,
      specId: 0,
      sortOrderId: 0,
    };
    const body = JSON.stringify({
      content,
      effectiveReference: { type: 'BRANCH', name: 'main', hash: 'a'.repeat(64) },
    }).replace('"@@"', '9007199254740993');
    const s = await stub([{ status: 200, body, gzip: true }]);
    const read = await createNessieClient({ uri: s.uri }).getContent('main', { elements: ['t'] });
    expect(read.value).toMatchObject({ type: 'ICEBERG_TABLE', snapshotId: 9007199254740993n });
  });

  it('sends sequential requests over one kept-alive connection', async () => {
    const s = await stub([{ status: 200, body: commitOk }]);
    const client = createNessieClient({ uri: s.uri });
    for (let i = 0; i < 5; i++) await client.commit('main', NO_ANCESTOR_HASH, { message: `m${i}` }, []);
    expect(s.requests).toHaveLength(5);
    expect(s.connections()).toBe(1);
  });
});
