/**
 * Knative's delivery semantics, shared by the local broker, the KafkaSource stand-in and the scheduler: which answers
 * are retried, the retry loop of a DeliverySpec (NOTES §1.4, §2.4), and the dead-letter event (§1.4).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { retryDelayMs, type DeliverySpec } from '../knative/manifests.ts';
import { postEvent, type HttpResponse, type PostOptions } from './http.ts';

/** Why an attempt failed: the answer (status, body, headers) or, without one, the network error. */
export interface DeliveryFailure {
  status?: number;
  body?: Uint8Array;
  headers?: IncomingHttpHeaders;
  message: string;
}

export type AttemptResult<T> = { ok: true; value: T } | { ok: false; retryable: boolean; failure: DeliveryFailure };

export type DeliveryResult<T> = AttemptResult<T> & { attempts: number };

/** Network errors and timeouts aside, Knative retries 5xx, 404, 408, 409 and 429; other answers are final. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;
}

/** The verdict on a plain delivery's answer: 2xx succeeds, the retryable codes are retried, the rest fails. */
export function statusResult<T>(status: number, value: T, failure: Omit<DeliveryFailure, 'status'>): AttemptResult<T> {
  if (status >= 200 && status < 300) return { ok: true, value };
  return { ok: false, retryable: isRetryableStatus(status), failure: { ...failure, status } };
}

/** A network error or timeout as an attempt result (always retried). */
export function networkFailure<T>(err: unknown): AttemptResult<T> {
  return { ok: false, retryable: true, failure: { message: (err as Error).message ?? String(err) } };
}

/** One POST of the event, judged by its status alone (sources and the dead-letter sink: the body means nothing). */
export async function sendAttempt(
  url: string,
  event: CloudEventMessage,
  options: PostOptions,
): Promise<AttemptResult<HttpResponse>> {
  let response: HttpResponse;
  try {
    response = await postEvent(url, event, options);
  } catch (err) {
    return networkFailure(err);
  }
  return statusResult(response.status, response, {
    body: response.body,
    headers: response.headers,
    message: `${url} answered ${response.status}`,
  });
}

export class AbortedError extends Error {
  constructor() {
    super('delivery aborted');
    this.name = 'AbortedError';
  }
}

export interface RetryOptions {
  signal?: AbortSignal;
  /** Called before each retry with the failure that caused it. */
  onRetry?: (failure: DeliveryFailure, attempt: number) => void;
}

/**
 * Runs `attempt` once, then up to `delivery.retry` more times while it fails retryably, waiting the spec's backoff
 * before each retry. Throws `AbortedError` when the signal fires (the caller is shutting down; nothing completed).
 */
export async function withRetries<T>(
  delivery: DeliverySpec,
  attempt: (signal: AbortSignal | undefined) => Promise<AttemptResult<T>>,
  options: RetryOptions = {},
): Promise<DeliveryResult<T>> {
  const retries = delivery.retry ?? 0;
  for (let n = 0; ; n++) {
    if (options.signal?.aborted) throw new AbortedError();
    const result = await attempt(options.signal);
    if (options.signal?.aborted) throw new AbortedError();
    if (result.ok || !result.retryable || n >= retries) return { ...result, attempts: n + 1 };
    options.onRetry?.(result.failure, n + 1);
    await sleep(retryDelayMs(delivery, n + 1), options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Knative keeps at most this many bytes of the failed answer in `knativeerrordata`. */
const ERROR_DATA_MAX_BYTES = 1024;
const EXTENSION_NAME = /^[a-z0-9]+$/;

/**
 * The event as the dead-letter sink receives it: unchanged, plus `knativeerrordest` (where delivery failed),
 * `knativeerrorcode` (the last status; 500 when there was no answer, like Knative's dispatcher),
 * `knativeerrordata` (base64 of up to 1024 bytes of the answer, or of the network error) and every `kne-*` response
 * header as an extension without its prefix (Kafka data plane).
 */
export function deadLetterEvent(
  event: CloudEventMessage,
  destination: string,
  failure: DeliveryFailure,
): CloudEventMessage {
  const attributes: Record<string, string> = {
    ...event.attributes,
    knativeerrordest: destination,
    knativeerrorcode: String(failure.status ?? 500),
  };
  const data =
    failure.status === undefined
      ? Buffer.from(`dispatch error: ${failure.message}`)
      : Buffer.from(failure.body ?? new Uint8Array(0));
  if (data.byteLength > 0) attributes.knativeerrordata = data.subarray(0, ERROR_DATA_MAX_BYTES).toString('base64');
  for (const [name, value] of Object.entries(failure.headers ?? {})) {
    const extension = name.toLowerCase().slice('kne-'.length);
    if (!name.toLowerCase().startsWith('kne-') || !EXTENSION_NAME.test(extension) || value === undefined) continue;
    attributes[extension] = Array.isArray(value) ? value.join(',') : value;
  }
  return { attributes, data: event.data };
}
