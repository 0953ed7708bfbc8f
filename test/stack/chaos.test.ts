/**
 * Kill and restart components mid-stream — a function (SIGKILL), the catalog, the local Broker — while the simulator
 * produces: after the drain every record is still on main exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { simulate } from '../../local/simulator/index.ts';
import { accountRun } from '../../local/stack/accounting.ts';
import { startStack, type RunningStack } from '../../local/stack/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = await tempDir('floe-chaos');
let stack: RunningStack | undefined;
afterAll(async () => {
  await stack?.stop();
  await tmp.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('crashes mid-stream', () => {
  it('loses and doubles nothing when the writer, the tagger, the catalog and the broker go down and come back', async () => {
    stack = await startStack({
      home: tmp.dir,
      logger: silentLogger,
      configFile: 'knative/config/pipeline.yaml',
      dashboard: false,
    });
    const running = simulate({
      brokers: stack.kafkaBrokers,
      rate: 40,
      durationMs: 20_000,
      seed: 3,
      badFraction: 0.05,
      logger: silentLogger,
    });
    await sleep(4000);
    await stack.functions.writer.kill();
    await stack.functions.writer.restart();
    await sleep(2000);
    await stack.restartNessie();
    await sleep(2000);
    await stack.functions.tagger.kill();
    await stack.functions.tagger.restart();
    await sleep(2000);
    await stack.restartBroker();
    await sleep(1000);
    await stack.functions.publisher.kill();
    await stack.functions.publisher.restart();
    const report = await running;
    await stack.waitIdle({ timeoutMs: 150_000 });
    const accounting = await accountRun(stack.catalog, stack.env.pipeline, report);
    for (const topic of accounting.topics) {
      expect(topic, topic.topic).toMatchObject({ missing: 0, duplicates: 0 });
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
    }
    expect(accounting.ok).toBe(true);
    expect(report.sent).toBeGreaterThan(500);
  }, 300_000);
});
