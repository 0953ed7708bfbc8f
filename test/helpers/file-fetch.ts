/**
 * icebird reads tables with `fetch`, and Node's fetch has no `file:` scheme. To let it read tables the local stack
 * wrote to a directory, this gives fetch one: `file://` URLs (with HTTP Range) are answered from disk, everything else
 * goes to the real fetch. It adapts the transport only; icebird's reading is untouched.
 */
import { open } from 'node:fs/promises';

export async function withFileFetch<T>(run: () => Promise<T>): Promise<T> {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith('file://')) return realFetch(input, init);
    const file = await open(url.slice('file://'.length), 'r');
    try {
      const { size } = await file.stat();
      const range = /bytes=(\d+)-(\d*)/.exec(new Headers(init?.headers).get('range') ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      const body = Buffer.alloc(Math.max(0, end - start + 1));
      await file.read(body, 0, body.length, start);
      const headers = {
        'content-length': String(body.length),
        ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      };
      return new Response(init?.method === 'HEAD' ? null : body, { status: range ? 206 : 200, headers });
    } finally {
      await file.close();
    }
  }) as typeof fetch;
  try {
    return await run();
  } finally {
    globalThis.fetch = realFetch;
  }
}
