/**
 * One HTTP POST of a CloudEvent, as the local eventing plane sends it (node:http with keep-alive, so thousands of
 * deliveries in flight reuse their connections).
 *
 * Why node:http and not fetch: the local broker tells a waiting sender that it has taken an event over with an
 * interim `102 Processing` before the final answer (see local/broker/index.ts); fetch hides interim responses.
 */
import http from 'node:http';
import https from 'node:https';
import { toHttpBinary, type CloudEventMessage } from '../../shared/events/cloudevent.ts';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Uint8Array;
}

export interface PostOptions {
  /** Headers besides the event's own binary-mode ones. */
  headers?: Record<string, string>;
  /** Gives up on the attempt after this long. With `onAccepted`, only until the receiver accepted the event. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called when the receiver answers `102 Processing`: it has the event and the final answer will follow. */
  onAccepted?: () => void;
  /** Larger response bodies fail the attempt. Default 16 MiB. */
  maxResponseBytes?: number;
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Idle connections kept per host. Node's default of 256 is below what a subscriber holds at once (the writer takes up
 * to 1,000 requests until its batch commits): when such a batch answered, every socket beyond 256 was closed and the
 * next batch opened new ones, a TCP connect and close on both sides per request over the limit.
 */
const MAX_IDLE_SOCKETS = 2048;

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxFreeSockets: MAX_IDLE_SOCKETS }),
  'https:': new https.Agent({ keepAlive: true, maxFreeSockets: MAX_IDLE_SOCKETS }),
};

/** Parsed targets: a delivery goes to one of a handful of URLs, parsing each on every POST showed in profiles. */
const targets = new Map<string, URL>();
const MAX_TARGETS = 256;

function target(url: string): URL {
  let parsed = targets.get(url);
  if (!parsed) {
    parsed = new URL(url);
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(url, parsed);
  }
  return parsed;
}

/**
 * Requests in flight per abort signal, with one listener per signal. Passing the signal to `http.request` would add a
 * listener per request, and an AbortSignal's listener list checks each addition against every listener already there:
 * with the broker's and the sources' one signal shared by thousands of deliveries in flight, that scan cost more CPU
 * than the requests themselves.
 */
const abortable = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

function onAbort(signal: AbortSignal, cancel: (reason: unknown) => void): () => void {
  let cancels = abortable.get(signal);
  if (!cancels) {
    const set = new Set<(reason: unknown) => void>();
    cancels = set;
    abortable.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const fn of [...set]) fn(signal.reason);
        set.clear();
      },
      { once: true },
    );
  }
  cancels.add(cancel);
  const registered = cancels;
  return () => registered.delete(cancel);
}

/** What `http.request` rejects with when its `signal` aborts. */
function abortError(reason: unknown): Error {
  return Object.assign(new Error('The operation was aborted', { cause: reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/** POSTs the event in binary mode; resolves with the final response, rejects on network errors and timeouts. */
export function postEvent(url: string, event: CloudEventMessage, options: PostOptions = {}): Promise<HttpResponse> {
  const { headers, body } = toHttpBinary(event);
  return post(url, headers, body, options);
}

/**
 * The request's headers as a flat [name, value, …] list: node:http writes such a list as it is (still validating every
 * name and value) instead of storing each header through setHeader, about a fifth of the client's CPU per request.
 * Node then adds no Host header of its own, so it is added here. Names are lower-cased so that `options.headers`
 * replaces an event header of the same name, as setHeader did.
 */
function rawHeaders(to: URL, event: Record<string, string>, extra: Record<string, string> | undefined, length: number) {
  const merged: Record<string, string> = { ...event };
  if (extra) for (const name of Object.keys(extra)) merged[name.toLowerCase()] = extra[name];
  merged['content-length'] = String(length);
  merged.host ??= to.host;
  const raw: string[] = [];
  for (const name of Object.keys(merged)) raw.push(name, merged[name]);
  return raw;
}

function post(
  url: string,
  eventHeaders: Record<string, string>,
  body: Uint8Array,
  options: PostOptions,
): Promise<HttpResponse> {
  const to = target(url);
  const client = to.protocol === 'https:' ? https : http;
  const agent = agents[to.protocol as keyof typeof agents];
  if (!agent) return Promise.reject(new Error(`unsupported URL ${url}: only http and https`));
  const headers = rawHeaders(to, eventHeaders, options.headers, body.byteLength);
  const limit = options.maxResponseBytes ?? 16 * 1024 * 1024;
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise<HttpResponse>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const request = client.request(to, { method: 'POST', headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) request.destroy(new Error(`response of ${url} exceeds ${limit} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        forget?.();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      });
      response.on('error', fail);
    });
    const forget = signal ? onAbort(signal, (reason) => request.destroy(abortError(reason))) : undefined;
    function fail(err: Error): void {
      clearTimeout(timer);
      forget?.();
      reject(err);
    }
    request.on('error', fail);
    request.on('close', () => forget?.());
    request.on('information', (info) => {
      if (info.statusCode !== 102 || !options.onAccepted) return;
      clearTimeout(timer);
      options.onAccepted();
    });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => request.destroy(new TimeoutError(`no answer from ${url} within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    }
    request.end(body);
  });
}
