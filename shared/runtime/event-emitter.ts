/**
 * Sends CloudEvents to a sink (the Broker ingress from `K_SINK`) in HTTP binary mode, retrying network errors and the
 * status codes Knative itself retries (5xx, 404, 408, 409, 429) with exponential backoff. A definite 4xx is an error.
 */
import { toHttpBinary, type CloudEventMessage } from '../events/cloudevent.ts';

export interface EmitterOptions {
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
}

export type Emit = (event: CloudEventMessage) => Promise<void>;

const RETRYABLE = (status: number) => status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;

export class EmitError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'EmitError';
  }
}

export function createEmitter(sink: string, options: EmitterOptions = {}): Emit {
  const retries = options.retries ?? 5;
  const backoffMs = options.backoffMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (event) => {
    const { headers, body } = toHttpBinary(event);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
      try {
        const response = await fetch(sink, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        await response.arrayBuffer();
        if (response.ok) return;
        lastError = new EmitError(`sink ${sink} answered ${response.status} for ${event.attributes.type} ${event.attributes.id}`, response.status);
        if (!RETRYABLE(response.status)) throw lastError;
      } catch (err) {
        if (err instanceof EmitError && err.status !== undefined && !RETRYABLE(err.status)) throw err;
        lastError = err as Error;
      }
    }
    throw new EmitError(`could not deliver ${event.attributes.type} ${event.attributes.id} to ${sink} after ${retries + 1} attempts: ${lastError?.message}`);
  };
}
