/**
 * Events in and out per function, from each function's Prometheus `/metrics` (`floe_events_received_total{type}`,
 * `floe_events_emitted_total{type}`, `floe_event_errors_total{status}`, and every other `floe_*` counter it has).
 * A function that does not answer within the timeout is reported down with the reason, not left out.
 *
 * In the cluster a request to a Knative Service scaled to zero starts a pod, so every read here wakes every function:
 * the result is memoized for FUNCTIONS_TTL_MS (longer than the page's poll) to keep that rare.
 */
import { parsePrometheusText, sumBy, type Sample } from './prometheus-text.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';

export interface FunctionMetrics {
  name: string;
  url: string;
  up: boolean;
  error: string | null;
  received: Record<string, number>;
  emitted: Record<string, number>;
  errors: Record<string, number>;
  totals: { received: number; emitted: number; errors: number };
  /** Other `floe_*` samples (histogram buckets left out), e.g. `floe_deadletter_events_total`. */
  counters: { name: string; labels: Record<string, string>; value: number }[];
}

export const FUNCTIONS_TTL_MS = 15_000;
export const METRICS_TIMEOUT_MS = 2_000;

const CORE = new Set(['floe_events_received_total', 'floe_events_emitted_total', 'floe_event_errors_total']);

function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((a, b) => a + b, 0);
}

export function metricsOf(name: string, url: string, samples: Sample[]): FunctionMetrics {
  const received = sumBy(samples, 'floe_events_received_total', 'type');
  const emitted = sumBy(samples, 'floe_events_emitted_total', 'type');
  const errors = sumBy(samples, 'floe_event_errors_total', 'status');
  const counters = samples
    .filter((s) => s.name.startsWith('floe_') && !CORE.has(s.name) && !s.name.endsWith('_bucket'))
    .map(({ name: metric, labels, value }) => {
      const { function: _fn, ...rest } = labels;
      return { name: metric, labels: rest, value };
    });
  return {
    name,
    url,
    up: true,
    error: null,
    received,
    emitted,
    errors,
    totals: { received: sum(received), emitted: sum(emitted), errors: sum(errors) },
    counters,
  };
}

async function scrape(name: string, url: string): Promise<FunctionMetrics> {
  const down = (error: string): FunctionMetrics => ({
    name,
    url,
    up: false,
    error,
    received: {},
    emitted: {},
    errors: {},
    totals: { received: 0, emitted: 0, errors: 0 },
    counters: [],
  });
  try {
    const response = await fetch(`${url.replace(/\/+$/, '')}/metrics`, {
      signal: AbortSignal.timeout(METRICS_TIMEOUT_MS),
      headers: { Accept: 'text/plain' },
    });
    if (!response.ok) return down(`GET /metrics answered HTTP ${response.status}`);
    return metricsOf(name, url, parsePrometheusText(await response.text()));
  } catch (err) {
    return down((err as Error)?.name === 'TimeoutError' ? `no answer within ${METRICS_TIMEOUT_MS} ms` : failureOf(err));
  }
}

/** The most specific reason a request failed: `ECONNREFUSED` rather than fetch's generic "fetch failed". */
function failureOf(err: unknown): string {
  let current = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] } | undefined;
  let message = (err as Error)?.message ?? String(err);
  for (let depth = 0; depth < 4 && current; depth++) {
    if (typeof current.code === 'string') return current.code;
    if (typeof current.message === 'string' && current.message) message = current.message;
    current = (current.cause ?? current.errors?.[0]) as typeof current;
  }
  return message;
}

export async function functionsView(ctx: ReadContext): Promise<{ generatedAt: string; functions: FunctionMetrics[] }> {
  return ctx.memo.get('functions', FUNCTIONS_TTL_MS, async () => ({
    generatedAt: ctx.now().toISOString(),
    functions: await Promise.all(
      Object.entries(ctx.functions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, url]) => scrape(name, url)),
    ),
  }));
}

/** `tagger=http://tagger.floe.svc.cluster.local,writer=http://…` (env `FLOE_FUNCTION_URLS`) → name → URL. */
export function parseFunctionUrls(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const name = item.slice(0, eq).trim();
    const url = item.slice(eq + 1).trim();
    if (eq <= 0 || !/^[a-z][a-z0-9-]*$/.test(name))
      throw new Error(`'${item}' is not NAME=URL with a lower-case function name`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`'${item}': '${url}' is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new Error(`'${item}': only http and https URLs are scraped`);
    out[name] = url.replace(/\/+$/, '');
  }
  return out;
}
