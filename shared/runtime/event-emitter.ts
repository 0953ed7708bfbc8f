/**
 * Sends CloudEvents to a sink (the Broker ingress from `K_SINK`) in HTTP binary mode, retrying network errors and the
 * status codes Knative itself retries (5xx, 404, 408, 409, 429) with exponential backoff. A definite 4xx is an error.
 *
 * node:http rather than fetch because fetch hides interim responses: a sink may answer `102 Processing` first (it has
 * the event, the final answer follows once it was delivered — the local Broker does so when `K_SINK` asks for it).
 * The caller learns of it through `onAccepted`, and from then on the attempt is no longer timed: the sink's own
 * delivery bounds the wait.
 */
import http from 'node:http';
import https from 'node:https';
import { toHttpBinary, type CloudEventMessage } from '../events/cloudevent.ts';

export interface EmitterOptions {
  retries?: number;
  backoffMs?: number;
  /** Per attempt, until the sink answers (or accepts with 102). */
  timeoutMs?: number;
}

export interface EmitOptions {
  /** Called when the sink answers `102 Processing`: it has the event; the final answer follows. */
  onAccepted?: () => void;
}

export type Emit = (event: CloudEventMessage, options?: EmitOptions) => Promise<void>;

const RETRYABLE = (status: number) =>
  status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;

export class EmitError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EmitError';
  }
}

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

export function createEmitter(sink: string, options: EmitterOptions = {}): Emit {
  const retries = options.retries ?? 5;
  const backoffMs = options.backoffMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const target = new URL(sink);
  if (!(target.protocol in agents)) throw new EmitError(`sink ${sink}: only http and https URLs are supported`);
  return async (event, emitOptions = {}) => {
    const { headers, body } = toHttpBinary(event);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
      try {
        const status = await post(target, headers, body, timeoutMs, emitOptions.onAccepted);
        if (status >= 200 && status < 300) return;
        lastError = new EmitError(
          `sink ${sink} answered ${status} for ${event.attributes.type} ${event.attributes.id}`,
          status,
        );
        if (!RETRYABLE(status)) throw lastError;
      } catch (err) {
        if (err instanceof EmitError && err.status !== undefined && !RETRYABLE(err.status)) throw err;
        lastError = err as Error;
      }
    }
    throw new EmitError(
      `could not deliver ${event.attributes.type} ${event.attributes.id} to ${sink} after ${retries + 1} attempts: ${lastError?.message}`,
    );
  };
}

/** One POST; resolves with the final status (the body is read and dropped), rejects on network errors and timeouts. */
function post(
  target: URL,
  headers: Record<string, string>,
  body: Uint8Array,
  timeoutMs: number,
  onAccepted: (() => void) | undefined,
): Promise<number> {
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.byteLength) },
        agent: agents[target.protocol as keyof typeof agents],
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          clearTimeout(timer);
          resolve(response.statusCode ?? 0);
        });
        response.on('error', fail);
      },
    );
    request.on('error', fail);
    request.on('information', (info) => {
      if (info.statusCode !== 102) return;
      clearTimeout(timer);
      onAccepted?.();
    });
    // Callbacks above clear it: they run only after this line, once the request is under way.
    const timer = setTimeout(
      () => request.destroy(new Error(`no answer from ${target.origin} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.end(body);
  });
}
