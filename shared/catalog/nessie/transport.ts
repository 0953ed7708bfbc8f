/**
 * One HTTP exchange for the Nessie client, over node:http(s) with keep-alive agents.
 *
 * Why not `fetch`: per request it builds a WHATWG Request, Headers, an AbortSignal and a ReadableStream for the body,
 * which cost the client more CPU than a whole commit costs the embedded server (bench/nessie.ts). What `fetch` did
 * that matters here is kept: connections are pooled per origin and reused, redirects are followed as `fetch` follows
 * them (at most 20; 303, and 301/302 after a POST, become a GET without body; the Authorization header is dropped when
 * the origin changes), gzip/deflate/br response bodies are decoded, and the timeout covers the whole exchange
 * including the body.
 */
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';

export interface HttpAnswer {
  status: number;
  /** The response body, decoded as UTF-8 (a leading BOM dropped, as `Response.text()` does). */
  text: string;
}

/**
 * The exchange failed without a complete answer. `notSent`: nothing reached the server (refused, DNS, still
 * connecting when the time ran out), so even a write may be sent again.
 */
export class HttpFailure extends Error {
  readonly timedOut: boolean;
  readonly notSent: boolean;

  constructor(message: string, options: { timedOut: boolean; notSent: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'HttpFailure';
    this.timedOut = options.timedOut;
    this.notSent = options.notSent;
  }
}

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const MAX_REDIRECTS = 20;

// Shared by every client in the process, as fetch's global dispatcher was: a process that makes several clients for
// one Nessie keeps one pool. Idle sockets are unref'd by the agent, so they do not keep the process alive. An idle
// socket is closed after 4 s (fetch's default too), or 1 s before the server's announced `Keep-Alive: timeout` if that
// is sooner, so a request is not sent down a connection the server is closing (a write lost that way would have to be
// reported as outcome unknown). On a busy socket the timeout only emits an event; `exchange` has its own deadline.
const IDLE_SOCKET_MS = 4000;
const httpAgent = new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
const httpsAgent = new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
const decoder = new TextDecoder();

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(body);
    case 'deflate':
      return zlib.inflateSync(body);
    case 'br':
      return zlib.brotliDecompressSync(body);
    default:
      throw new Error(`unsupported Content-Encoding '${encoding}'`);
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

interface Hop {
  status: number;
  location?: string;
  body: Buffer;
}

function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  deadline: number,
  timeoutMs: number,
): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    let settled = false;
    const fail = (err: HttpFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = transport.request(
      url,
      { method, headers, agent: url.protocol === 'https:' ? httpsAgent : httpAgent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) =>
          fail(new HttpFailure(errorCode(err) ?? err.message, { timedOut: false, notSent: false, cause: err })),
        );
        res.on('close', () => {
          if (!res.complete)
            fail(
              new HttpFailure('ECONNRESET', { timedOut: false, notSent: false, cause: new Error('response cut off') }),
            );
        });
        res.on('end', () => {
          if (settled) return;
          let decoded: Buffer;
          try {
            decoded = decodeBody(
              chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
              res.headers['content-encoding'],
            );
          } catch (err) {
            return fail(new HttpFailure((err as Error).message, { timedOut: false, notSent: false, cause: err }));
          }
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: decoded });
        });
      },
    );
    // Declared after the request: `fail` can only run from its callbacks, which come later.
    const timer = setTimeout(
      () => {
        // A socket still connecting has sent nothing: as safe to repeat as a refused connection.
        const connecting = !req.socket || req.socket.connecting;
        fail(new HttpFailure(`timed out after ${timeoutMs} ms`, { timedOut: true, notSent: connecting }));
      },
      Math.max(0, deadline - performance.now()),
    );
    req.on('error', (err) => {
      const code = errorCode(err);
      fail(
        new HttpFailure(code ?? err.message, {
          timedOut: false,
          notSent: CONNECT_FAILURES.has(code ?? ''),
          cause: err,
        }),
      );
    });
    req.end(body);
  });
}

/** Sends one request (following redirects) and reads the whole answer within `timeoutMs`. */
export async function httpRequest(
  target: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const deadline = performance.now() + timeoutMs;
  let url = new URL(target);
  const sent = { ...headers };
  if (body !== undefined) sent['Content-Length'] = String(Buffer.byteLength(body));
  for (let redirects = 0; ; redirects++) {
    // Thrown, not an HttpFailure: nothing was sent, and no retry can help.
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`unsupported protocol ${url.href}`);
    const hop = await exchange(url, method, sent, body, deadline, timeoutMs);
    const redirect = hop.location !== undefined && [301, 302, 303, 307, 308].includes(hop.status);
    if (!redirect) {
      const text = decoder.decode(hop.body);
      return { status: hop.status, text };
    }
    if (redirects >= MAX_REDIRECTS)
      throw new HttpFailure(`more than ${MAX_REDIRECTS} redirects`, { timedOut: false, notSent: false });
    const next = new URL(hop.location!, url);
    if (next.origin !== url.origin) delete sent.Authorization;
    if (hop.status === 303 ? method !== 'HEAD' : (hop.status === 301 || hop.status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      delete sent['Content-Type'];
      delete sent['Content-Length'];
    }
    url = next;
  }
}
