/** The local PingSource scheduler: cron ticks and fire() through the local broker to real function hosts. */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../local/broker/index.ts';
import { loadManifests, parseManifests, type Manifests } from '../../local/knative/manifests.ts';
import { startScheduler, SchedulerError, type RunningScheduler } from '../../local/scheduler/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { closeAll, failing, startFunction, type Handler, type TestFunction } from './helpers.ts';

const running: { close(): Promise<void> }[] = [];
afterEach(() => closeAll(running));

const toBroker = { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } };

function pingSource(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name },
    spec: { sink: toBroker, ...spec },
  };
}

function jobTrigger(name: string, job: string) {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name },
    spec: {
      broker: 'default',
      filters: [{ exact: { type: 'dev.knative.sources.ping' } }, { exact: { floejob: job } }],
      subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } },
      delivery: {
        retry: 1,
        backoffDelay: 'PT0.01S',
        deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dlq' } },
      },
    },
  };
}

async function setup(
  manifests: Manifests,
  handlers: Record<string, Handler>,
): Promise<{ scheduler: RunningScheduler; received: (name: string) => TestFunction }> {
  const functions: Record<string, TestFunction> = {};
  for (const [name, handler] of Object.entries({ dlq: () => undefined, ...handlers })) {
    functions[name] = await startFunction(name, handler);
    running.push(functions[name]);
  }
  const broker = await startBroker({
    manifests,
    services: Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.url])),
    logger: silentLogger,
  });
  running.push({ close: () => broker.stop() });
  const scheduler = startScheduler({ manifests, brokerUrl: broker.url, namespace: 'pipeline', logger: silentLogger });
  running.push({ close: async () => scheduler.stop() });
  return { scheduler, received: (name) => functions[name] };
}

describe('scheduler', () => {
  it('fires a PingSource on its cron (a seconds field: every second) with the PingSource event shape', async () => {
    const manifests = parseManifests([
      pingSource('compact', {
        schedule: '* * * * * *',
        contentType: 'application/json',
        data: '{"job":"compact"}',
        ceOverrides: { extensions: { floejob: 'compact' } },
      }),
      pingSource('yearly', {
        schedule: '0 0 1 1 *',
        data: 'never now',
        ceOverrides: { extensions: { floejob: 'yearly' } },
      }),
      jobTrigger('compactor', 'compact'),
      jobTrigger('yearly', 'yearly'),
    ]);
    const { received } = await setup(manifests, { compactor: () => undefined, yearly: () => undefined });
    const compactor = received('compactor');
    await waitFor(() => compactor.received.length >= 2, 'two ticks of the every-second schedule');
    const [first, second] = compactor.received;
    expect(first.attributes).toMatchObject({
      specversion: '1.0',
      type: 'dev.knative.sources.ping',
      source: '/apis/v1/namespaces/pipeline/pingsources/compact',
      datacontenttype: 'application/json',
      floejob: 'compact',
    });
    expect(first.attributes.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.attributes.id).not.toBe(first.attributes.id);
    expect(Date.parse(second.attributes.time) - Date.parse(first.attributes.time)).toBeGreaterThan(0);
    expect(Buffer.from(first.data).toString()).toBe('{"job":"compact"}');
    expect(received('yearly').received).toHaveLength(0);
  });

  it('fire() sends one tick now and resolves once the broker delivered it', async () => {
    const manifests = parseManifests([
      pingSource('orphans', {
        schedule: '30 3 * * *',
        timezone: 'Europe/Berlin',
        dataBase64: Buffer.from([0, 1, 2, 255]).toString('base64'),
        ceOverrides: { extensions: { floejob: 'orphans' } },
      }),
      pingSource('broken', { schedule: '0 0 1 1 *', ceOverrides: { extensions: { floejob: 'broken' } } }),
      jobTrigger('janitor', 'orphans'),
      jobTrigger('failing', 'broken'),
    ]);
    const { scheduler, received } = await setup(manifests, { janitor: () => undefined, failing: failing(422) });
    expect(await scheduler.fire('orphans')).toEqual({ delivered: 1, deadLettered: 0, failed: 0, aborted: false });
    const janitor = received('janitor');
    expect(janitor.received).toHaveLength(1);
    expect(janitor.received[0].attributes.datacontenttype).toBeUndefined();
    expect([...janitor.received[0].data]).toEqual([0, 1, 2, 255]);
    expect(await scheduler.fire('broken')).toEqual({ delivered: 0, deadLettered: 1, failed: 0, aborted: false });
    expect(received('dlq').received.map((e) => e.attributes.floejob)).toEqual(['broken']);
    await expect(scheduler.fire('nightly')).rejects.toThrow(/no PingSource nightly \(known: orphans, broken\)/);
  });

  it('refuses a schedule croner cannot read, naming the PingSource', () => {
    const manifests = parseManifests([pingSource('bad', { schedule: '61 * * * *' })]);
    expect(() => startScheduler({ manifests, brokerUrl: 'http://127.0.0.1:1', logger: silentLogger })).toThrow(
      SchedulerError,
    );
    expect(() => startScheduler({ manifests, brokerUrl: 'http://127.0.0.1:1', logger: silentLogger })).toThrow(
      /PingSource bad/,
    );
  });

  it('accepts the schedules of the repository PingSources', async () => {
    const manifests = await loadManifests();
    expect(manifests.pingSources.map((p) => p.name).sort()).toEqual([
      'compact',
      'expire',
      'orphans',
      'redrive',
      'tags',
    ]);
    expect(() =>
      startScheduler({ manifests, brokerUrl: 'http://127.0.0.1:1', logger: silentLogger }).stop(),
    ).not.toThrow();
  });
});
