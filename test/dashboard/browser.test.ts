/**
 * The dashboard page in real headless Chromium (Debian's `chromium`, driven by playwright-core; no browser download):
 * the charts render the known table's numbers, the branch list follows a publish made while the page is open, claim-
 * check thumbnails load, bad input shows an error state instead of a blank page. Saves test-artifacts/dashboard.png.
 * Needs /usr/bin/chromium, which .ci/run installs with apt: without it the suite skips, saying so, and fails in CI.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { startDashboard, type RunningDashboard } from '../../dashboard/server.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { describeIfAvailable } from '../helpers/requires.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';
import { EXPECTED, populateLakehouse, TRUSTED, UNTRUSTED, type Lakehouse } from './lakehouse.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

const ARTIFACTS = path.resolve('test-artifacts');
/** The page polls every second here (default 5 s), so a publish shows up quickly. */
const PAGE = '?refresh=1';
/** How long a DOM change may take to appear (the page polls every second; CI machines are slow). */
const WAIT = { timeout: 15_000, interval: 100 };

let lake: Lakehouse;
let dashboard: RunningDashboard;
let profile: { dir: string; cleanup: () => Promise<void> };
let browser: BrowserContext;
let page: Page;

/** The data a Chart.js chart on the page currently draws. */
function chartData(id: string) {
  return page.evaluate((canvasId) => {
    const chart = (globalThis as any).Chart.getChart((globalThis as any).document.getElementById(canvasId));
    return chart
      ? {
          labels: chart.data.labels ?? [],
          datasets: chart.data.datasets.map((d: any) => ({ label: d.label, data: d.data })),
        }
      : null;
  }, id);
}

describeIfAvailable(hasChromium ? undefined : `${CHROMIUM} is not installed (apt-get install -y chromium)`)(
  'the dashboard page in Chromium',
  () => {
    beforeAll(async () => {
      lake = await populateLakehouse();
      dashboard = await startDashboard({
        catalog: lake.stack.catalog,
        io: lake.stack.catalog.io,
        warehouse: lake.stack.env.warehouse,
        config: lake.stack.env.pipeline,
        functions: { deadletter: lake.deadletterHost.url },
        logger: silentLogger,
      });
      profile = await tempDir('floe-chromium');
      const { chromium } = await import('playwright-core');
      browser = await chromium.launchPersistentContext(profile.dir, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 1000 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = browser.pages()[0] ?? (await browser.newPage());
    });

    afterAll(async () => {
      await browser?.close();
      await profile?.cleanup();
      await dashboard?.stop();
      await lake?.stop();
    });

    it('renders the known table: overview numbers and chart data', async () => {
      await page.goto(new URL(PAGE, dashboard.url).href);
      await page.locator(`#tables-list tr[data-table="${TRUSTED}"]`).waitFor();
      await expect.poll(() => page.locator('[data-metric="trustedRows"]').textContent(), WAIT).toBe('52');
      expect(await page.locator('[data-metric="untrustedRows"]').textContent()).toBe('23');
      expect(await page.locator(`#tables-list tr[data-table="${TRUSTED}"] [data-field="rows"]`).textContent()).toBe(
        '52',
      );

      // The default selection is the first trusted table; its charts show the table pair's history and reasons.
      await page.waitForFunction(
        () =>
          (globalThis as any).Chart?.getChart((globalThis as any).document.getElementById('chart-rows'))?.data.datasets
            .length === 2,
      );
      const rows = await chartData('chart-rows');
      expect(rows!.datasets.map((d: any) => d.label)).toEqual([TRUSTED, UNTRUSTED]);
      expect(rows!.datasets[0].data.map((p: any) => p.y)).toEqual(EXPECTED.trustedHistory);
      expect(rows!.datasets[1].data.map((p: any) => p.y)).toEqual(EXPECTED.untrustedHistory);
      const times = rows!.datasets[0].data.map((p: any) => p.x);
      expect(times[0]).toBeLessThanOrEqual(times[1]);

      const files = await chartData('chart-files');
      expect((files!.datasets[0].data as number[]).reduce((a, b) => a + b, 0)).toBe(EXPECTED.trustedFiles);
      expect(files!.labels[0]).toBe('< 16 KiB');

      const reasons = await chartData('chart-reasons');
      expect(reasons!.labels).toEqual(EXPECTED.reasons.map((r) => r.reason));
      expect(reasons!.datasets[0].data).toEqual(EXPECTED.reasons.map((r) => r.count));

      // the charts really drew something
      const drawn = await page.evaluate(() => {
        const canvas = (globalThis as any).document.getElementById('chart-rows');
        const pixels: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
        return painted;
      });
      expect(drawn).toBeGreaterThan(500);
      expect(await page.locator('#status').getAttribute('class')).toContain('ok');
    });

    it('loads claim-check images as thumbnails in the table browser', async () => {
      const where = encodeURIComponent('_kafka_partition = 0 and _offset < 3');
      await page.goto(new URL(`${PAGE}&table=${TRUSTED}&where=${where}`, dashboard.url).href);
      const thumbs = page.locator('#rows-body img.thumb');
      await expect.poll(() => thumbs.count(), WAIT).toBe(EXPECTED.imageRows);
      await page.waitForFunction(() =>
        [...(globalThis as any).document.querySelectorAll('#rows-body img.thumb')].every((img: any) => img.complete),
      );
      const sizes = await thumbs.evaluateAll((imgs: any[]) => imgs.map((img) => [img.naturalWidth, img.naturalHeight]));
      expect(sizes).toEqual(Array.from({ length: EXPECTED.imageRows }, () => [48, 32]));
      expect(await page.locator('#browser-state').textContent()).toMatch(
        /3 newest rows of production\.parking_entry on main/,
      );
    });

    it('updates the branch list after a publish made while the page is open', async () => {
      await page.goto(new URL(PAGE, dashboard.url).href);
      const pending = page.locator(`#branches tr[data-batch="${lake.pending.batchId}"]`);
      await pending.waitFor();
      expect(await pending.getAttribute('data-stage')).toBe('audited');
      expect(await page.locator(`#branches tr[data-batch="${lake.rejected.batchId}"]`).getAttribute('data-stage')).toBe(
        'rejected',
      );

      const outcome = await publishBatch(lake.ctx, lake.pending);
      expect(outcome.kind).toBe('published');
      await pending.waitFor({ state: 'detached', timeout: WAIT.timeout });
      await page
        .locator(`#recent tr[data-batch="${lake.pending.batchId}"][data-outcome="published"]`)
        .waitFor({ timeout: WAIT.timeout });
      await expect
        .poll(() => page.locator('[data-metric="trustedRows"]').textContent(), WAIT)
        .toBe(String(52 + EXPECTED.pendingRows));
      await page.waitForFunction(
        (n) => {
          const data = (globalThis as any).Chart.getChart((globalThis as any).document.getElementById('chart-rows'))
            ?.data.datasets[0]?.data;
          return data?.[data.length - 1]?.y === n;
        },
        52 + EXPECTED.pendingRows,
        { timeout: WAIT.timeout },
      );

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      expect(existsSync(path.join(ARTIFACTS, 'dashboard.png'))).toBe(true);
    });

    it('shows an error state for an unknown table, an unknown ref and a malformed limit', async () => {
      await page.goto(new URL(`${PAGE}&table=production.nope`, dashboard.url).href);
      const detail = page.locator('#detail-state.error');
      await detail.waitFor();
      expect(await detail.textContent()).toBe("table 'production.nope' does not exist on main");
      expect(await page.locator('#detail-body').isHidden()).toBe(true);
      await expect
        .poll(() => page.locator('#browser-state.error').textContent(), WAIT)
        .toBe("table 'production.nope' does not exist on main");
      // the rest of the page still works
      await page.locator(`#tables-list tr[data-table="${TRUSTED}"]`).waitFor();

      await page.goto(new URL(`${PAGE}&table=${TRUSTED}&ref=no-such-branch`, dashboard.url).href);
      await expect.poll(() => page.locator('#detail-state.error').textContent(), WAIT).toMatch(/no-such-branch/);

      await page.goto(new URL(`${PAGE}&table=${TRUSTED}&limit=abc`, dashboard.url).href);
      await expect
        .poll(() => page.locator('#browser-state.error').textContent(), WAIT)
        .toBe("limit must be an integer from 1 to 500, got 'abc'");
      expect(await page.locator('#rows-body tr').count()).toBe(0);
    });
  },
);
