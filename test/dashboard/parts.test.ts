/** The dashboard's small parts on their own: Prometheus text, the memo, latency percentiles, defensive report reading. */
import { describe, expect, it } from 'vitest';
import { latencyOf } from '../../shared/lakehouse/branch-views.ts';
import { createMemo } from '../../shared/lakehouse/memo.ts';
import { metricsOf, parseFunctionUrls } from '../../dashboard/function-metrics.ts';
import { readRun } from '../../dashboard/maintenance-runs.ts';
import { refParam, tableParam } from '../../dashboard/query-params.ts';
import { parsePrometheusText } from '../../dashboard/prometheus-text.ts';
import { reasonCategory } from '../../shared/lakehouse/quality-stats.ts';

describe('Prometheus text', () => {
  const page = [
    '# HELP floe_events_received_total CloudEvents received, by type',
    '# TYPE floe_events_received_total counter',
    'floe_events_received_total{type="dev.floe.record.tagged",function="writer"} 41',
    'floe_events_received_total{function="writer",type="dev.floe.batch.written"} 1 1763805300000',
    'floe_event_errors_total{status="500",function="writer"} 2',
    'floe_batch_rows_bucket{le="+Inf",function="writer"} 3',
    'floe_batch_rows_sum{function="writer"} 42',
    'floe_odd{path="a \\"quoted\\" \\\\ back\\nslash",} NaN',
    'process_cpu_seconds_total 0.5',
    '',
  ].join('\n');

  it('reads samples with labels, escapes, timestamps and special values', () => {
    const samples = parsePrometheusText(page);
    expect(samples).toHaveLength(7);
    expect(samples[1]).toEqual({
      name: 'floe_events_received_total',
      labels: { function: 'writer', type: 'dev.floe.batch.written' },
      value: 1,
    });
    expect(samples[3].labels.le).toBe('+Inf');
    expect(samples[5].labels.path).toBe('a "quoted" \\ back\nslash');
    expect(samples[5].value).toBeNaN();
    expect(samples[6]).toEqual({ name: 'process_cpu_seconds_total', labels: {}, value: 0.5 });
  });

  it('sums events per function and keeps the other floe counters', () => {
    const metrics = metricsOf('writer', 'http://writer', parsePrometheusText(page));
    expect(metrics.received).toEqual({ 'dev.floe.record.tagged': 41, 'dev.floe.batch.written': 1 });
    expect(metrics.totals).toEqual({ received: 42, emitted: 0, errors: 2 });
    expect(metrics.counters.map((c) => c.name)).toEqual(['floe_batch_rows_sum', 'floe_odd']);
    expect(metrics.counters[0].labels).toEqual({});
  });

  it("reads NaN and Inf in any case, as Prometheus does (prom-client writes 'Nan' for a gauge not sampled yet)", () => {
    const values = parsePrometheusText('a Nan\nb nan\nc +inf\nd -Inf\ne INF').map((s) => s.value);
    expect(values[0]).toBeNaN();
    expect(values[1]).toBeNaN();
    expect(values.slice(2)).toEqual([Infinity, -Infinity, Infinity]);
  });

  it('names the line that is not a sample', () => {
    expect(() => parsePrometheusText('ok 1\nbroken{a="b" 2')).toThrow(/line 2/);
    expect(() => parsePrometheusText('x one')).toThrow(/line 1: not a Prometheus sample/);
  });
});

describe('memo', () => {
  it('shares one computation per key and window, and retries a failure', async () => {
    let clock = 0;
    const memo = createMemo({ now: () => clock });
    let calls = 0;
    const compute = async () => ++calls;
    expect(await Promise.all([memo.get('k', 100, compute), memo.get('k', 100, compute)])).toEqual([1, 1]);
    clock = 99;
    expect(await memo.get('k', 100, compute)).toBe(1);
    clock = 100;
    expect(await memo.get('k', 100, compute)).toBe(2);
    await expect(memo.get('f', 100, async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await Promise.resolve();
    expect(await memo.get('f', 100, compute)).toBe(3);
  });

  it('drops the least recently used entry beyond its size', async () => {
    const memo = createMemo({ maxEntries: 2 });
    let calls = 0;
    const compute = async () => ++calls;
    await memo.get('a', Infinity, compute);
    await memo.get('b', Infinity, compute);
    await memo.get('a', Infinity, compute);
    await memo.get('c', Infinity, compute);
    expect(await memo.get('a', Infinity, compute)).toBe(1);
    expect(await memo.get('b', Infinity, compute)).toBe(4);
  });
});

describe('small readers', () => {
  it('computes nearest-rank latency percentiles', () => {
    expect(latencyOf([])).toBeNull();
    expect(latencyOf([5, 1, 3, 2, 4, 6, 7, 8, 9, 10])).toEqual({ count: 10, p50: 5, p90: 9, p99: 10, max: 10 });
  });

  it('categorizes untrusted reasons like the auditor', () => {
    expect(reasonCategory("type: field 'slot': expected string")).toBe('type');
    expect(reasonCategory('no colon')).toBe('no colon');
  });

  it('reads a maintenance report defensively', () => {
    const run = readRun('loc', '2026-11-22T10-15-00-123Z-orphans.json', new Date('2026-11-22T10:15:01Z'), {
      filesBefore: '12',
      bytesReclaimed: 2048n,
      dryRun: 'yes',
      errors: ['disk', { code: 1 }],
      tables: [{ table: 'a.b' }, 'junk'],
    });
    expect(run).toMatchObject({
      job: 'orphans',
      at: '2026-11-22T10:15:01.000Z',
      filesBefore: null,
      bytesReclaimed: 2048,
      dryRun: false,
      errors: ['disk', '{"code":1}'],
      tables: [{ table: 'a.b', outcome: null, filesBefore: null, filesAfter: null }],
    });
  });

  it('validates refs, table names and function URLs', () => {
    expect(refParam(null)).toBe('main');
    expect(refParam('wap/parking_entry/20261122t101500123z-0a1b2c3d')).toBe(
      'wap/parking_entry/20261122t101500123z-0a1b2c3d',
    );
    expect(refParam('main@0123456789abcdef')).toBe('main@0123456789abcdef');
    for (const bad of ['', 'a b', 'main@xyz', '../x', 'x/', '-x'])
      expect(() => refParam(bad), bad).toThrow(/malformed ref/);
    expect(tableParam('production.parking_entry')).toBe('production.parking_entry');
    expect(() => tableParam('%E0%A4%A')).toThrow(/malformed table name/);
    expect(() => tableParam('nodot')).toThrow(/namespace\.table/);
    expect(parseFunctionUrls(' tagger=http://tagger/ , writer=https://w:8080')).toEqual({
      tagger: 'http://tagger',
      writer: 'https://w:8080',
    });
    expect(parseFunctionUrls(undefined)).toEqual({});
    expect(() => parseFunctionUrls('Tagger=http://x')).toThrow(/lower-case/);
    expect(() => parseFunctionUrls('tagger=not a url')).toThrow(/not a URL/);
  });
});
