/**
 * The Superset dashboard shipped as code (kustomize/components/bi/superset-dashboard/) over floe's tables in Trino:
 * a real `floe start` run publishes production.* tables on an embedded Nessie; Trino (test/interop/trino-server.ts)
 * reads them; Superset from PyPI (test/interop/superset-server.ts) gets the dashboard from the directory's own
 * import_dashboard.py. Every chart file must be on the dashboard, and every number each chart's saved query returns
 * through Superset's chart-data API equals Trino's answer to SQL written here against the tables directly (and floe's
 * accounting for the trusted and untrusted counts). Headless Chromium then opens the dashboard as a user: every chart
 * renders, the queries the page sends are the saved ones the API check ran, and a screenshot is written to a temp
 * file (and to FLOE_SCREENSHOT_OUT when set; `FLOE_SCREENSHOT_OUT=docs/superset-dashboard.png` refreshes the
 * committed one).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Browser, Locator, Page } from 'playwright-core';
import { startNessieServer, type RunningNessieServer } from '../../local/nessie/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { tempDir } from '../helpers/tmp.ts';
import { floeStart } from './floe-run.ts';
import { startSuperset, type RunningSuperset } from './superset-server.ts';
import { CATALOG, startTrino, type RunningTrino } from './trino-server.ts';

const DASHBOARD_DIR = fileURLToPath(new URL('../../kustomize/components/bi/superset-dashboard/', import.meta.url));
const IMPORT_SCRIPT = path.join(DASHBOARD_DIR, 'import_dashboard.py');
const TABLES = ['parking_entry', 'parking_exit', 'parking_sensors'];
const CHROMIUM = '/usr/bin/chromium';
const QUERY_TEST_MS = 300_000;
const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);

interface ChartFile {
  name: string;
  uuid: string;
  sliceName: string;
  queries: unknown[];
}

/** The chart-*.yaml files of the dashboard directory: what must be on the dashboard. */
const CHART_FILES: ChartFile[] = readdirSync(DASHBOARD_DIR)
  .filter((file) => /^chart-.+\.yaml$/.test(file))
  .sort()
  .map((file) => {
    const chart = parseYaml(readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as {
      uuid: string;
      slice_name: string;
      query_context: string;
    };
    return {
      name: file.slice('chart-'.length, -'.yaml'.length),
      uuid: chart.uuid,
      sliceName: chart.slice_name,
      queries: (parseJson(chart.query_context) as { queries: unknown[] }).queries,
    };
  });

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: RunningNessieServer | undefined;
let trino: RunningTrino | undefined;
let trinoStarted: Promise<RunningTrino> | undefined;
let superset: RunningSuperset | undefined;
let supersetStarted: Promise<RunningSuperset> | undefined;
let api: SupersetApi;
/** Chart id in Superset by chart file name, from the dashboard the import created. */
const chartIds = new Map<string, number>();
const trusted = new Map<string, number>();
const untrusted = new Map<string, number>();

beforeAll(async () => {
  tmp = await tempDir('floe-interop-superset');
  nessie = await startNessieServer({ port: 0, dataDir: path.join(tmp.dir, 'nessie') });
  const warehouse = `file://${path.join(tmp.dir, 'warehouse')}/`;
  const env = { NESSIE_URI: nessie.uri, FLOE_WAREHOUSE: warehouse, FLOE_HOME: tmp.dir, FLOE_LOG_LEVEL: 'warn' };
  // Trino and Superset start (and on a cold cache download) while floe writes; neither needs the tables up front.
  trinoStarted = startTrino({ nessieUri: `${nessie.uri}/v2`, warehouse, home: path.join(tmp.dir, 'trino'), progress });
  supersetStarted = startSuperset({ home: path.join(tmp.dir, 'superset'), progress });
  // Keep a rejected start from going unhandled while floe runs; both are awaited below.
  trinoStarted.catch(() => undefined);
  supersetStarted.catch(() => undefined);
  const started = Date.now();
  const topics = await floeStart({ home: tmp.dir, duration: '20s', seed: 7, env, timeoutMs: 400_000 });
  for (const topic of topics) {
    trusted.set(topic.topic.replace(/-/g, '_'), topic.trusted);
    untrusted.set(topic.topic.replace(/-/g, '_'), topic.untrusted);
  }
  expect([...trusted.keys()].sort()).toEqual(TABLES);
  progress(`floe start wrote the tables in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  trino = await trinoStarted;
  superset = await supersetStarted;

  const imported = await importDashboard();
  expect(imported.code, imported.stderr + imported.stdout).toBe(0);
  progress(`import_dashboard.py: ${imported.stdout.trim().split('\n').pop()}`);
  api = await SupersetApi.login(superset);
  const charts = await api.get<{ result: { id: number; slice_name: string }[] }>('/api/v1/dashboard/floe/charts');
  for (const chart of charts.result) {
    const file = CHART_FILES.find((f) => f.sliceName === chart.slice_name);
    if (file) chartIds.set(file.name, chart.id);
  }
}, 900_000);

afterAll(async () => {
  // Starts still under way when something failed are waited for, so that no server outlives the test.
  await (superset ?? (await supersetStarted?.catch(() => undefined)))?.stop();
  await (trino ?? (await trinoStarted?.catch(() => undefined)))?.stop();
  await nessie?.stop();
  await tmp?.cleanup();
});

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs import_dashboard.py with Superset's interpreter; the password goes through the environment, as documented. */
function runScript(args: string[], password?: string): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(superset!.python, [IMPORT_SCRIPT, ...args], {
      env: { ...process.env, SUPERSET_PASSWORD: password ?? '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function importDashboard(password = superset!.password): Promise<ScriptResult> {
  const trinoAddress = new URL(trino!.url).host;
  return runScript(
    [
      '--url',
      superset!.url,
      '--username',
      superset!.username,
      '--trino-uri',
      `trino://floe@${trinoAddress}`,
      '--catalog',
      CATALOG,
    ],
    password,
  );
}

/** Superset's REST API as a logged-in user (a JWT; reads need no CSRF token). */
class SupersetApi {
  private constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  static async login(running: RunningSuperset): Promise<SupersetApi> {
    const response = await fetch(`${running.url}/api/v1/security/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: running.username, password: running.password, provider: 'db', refresh: false }),
    });
    const body = await response.text();
    expect(response.status, body).toBe(200);
    return new SupersetApi(running.url, parseJson<{ access_token: string }>(body).access_token);
  }

  async get<T>(pathAndQuery: string): Promise<T> {
    const response = await fetch(`${this.url}${pathAndQuery}`, { headers: { Authorization: `Bearer ${this.token}` } });
    const body = await response.text();
    if (!response.ok) throw new Error(`Superset answered ${response.status} to GET ${pathAndQuery}: ${body}`);
    return parseJson<T>(body);
  }
}

interface ChartData {
  error: string | null;
  colnames: string[];
  data: Record<string, unknown>[];
}

/** A Superset value as a number: counts come back as floats after the pivot; NaN (a missing cell) as null. */
function num(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  return Number(value);
}

async function trinoRows(sql: string): Promise<unknown[][]> {
  return (await trino!.query(sql)).rows;
}

/** Trino's current_timestamp in epoch milliseconds: brackets the moment of a Superset query sent in between. */
async function trinoNowMs(): Promise<number> {
  const [[now]] = await trinoRows('select to_unixtime(current_timestamp) * 1000');
  return Number(now);
}

async function newestKafkaMs(): Promise<Map<string, number>> {
  const rows = await trinoRows(
    TABLES.map((t) => `select '${t}', to_unixtime(max(_kafka_time)) * 1000 from production.${t}`).join(' union all '),
  );
  return new Map(rows.map(([table, ms]) => [String(table), Number(ms)]));
}

const UNTRUSTED_RULES = `select coalesce(split_part(element_at(_reasons, 1), ':', 1), 'unknown') as rule, count(*)
  from (${TABLES.map((t) => `select _reasons from production.${t}_untrusted`).join(' union all ')})
  group by 1 order by 2 desc, 1 limit 10`;

/**
 * What each chart must show, checked against Trino (and floe's accounting). A chart file without an entry here fails
 * the test: a new chart needs its check.
 */
const CHECKS: Record<string, (data: ChartData, window: { before: number; after: number }) => Promise<void>> = {
  async rows_per_hour({ data }) {
    const expected = new Map<string, number>();
    for (const table of TABLES) {
      const rows = await trinoRows(
        `select to_unixtime(date_trunc('hour', _ingested_at)) * 1000, count(*) from production.${table} group by 1`,
      );
      for (const [hour, n] of rows) expected.set(`${Number(hour)} ${table}`, Number(n));
      expect(rows.reduce((sum, [, n]) => sum + Number(n), 0)).toBe(trusted.get(table));
    }
    const actual = new Map<string, number>();
    for (const row of data)
      for (const table of TABLES) {
        const n = num(row[table]);
        if (n !== undefined) actual.set(`${Number(row.ingested_at)} ${table}`, n);
      }
    expect(actual).toEqual(expected);
  },

  async trusted_vs_untrusted({ data }) {
    const counts = await trinoRows(
      TABLES.flatMap((t) => [
        `select '${t}', 'trusted', count(*) from production.${t}`,
        `select '${t}', 'untrusted', count(*) from production.${t}_untrusted`,
      ]).join(' union all '),
    );
    const fromTrino = new Map(counts.map(([table, trust, n]) => [`${String(table)} ${String(trust)}`, Number(n)]));
    const fromAccounting = new Map(
      TABLES.flatMap((t) => [
        [`${t} trusted`, trusted.get(t)!],
        [`${t} untrusted`, untrusted.get(t)!],
      ]),
    );
    expect(fromTrino).toEqual(fromAccounting);
    const actual = new Map(
      data.flatMap((row) => [
        [`${String(row.table_name)} trusted`, num(row.trusted)],
        [`${String(row.table_name)} untrusted`, num(row.untrusted)],
      ]),
    );
    expect(actual).toEqual(fromAccounting);
  },

  async untrusted_reasons({ data }) {
    const rows = await trinoRows(UNTRUSTED_RULES);
    expect(rows.length).toBeGreaterThan(1);
    const expected = new Map(rows.map(([rule, n]) => [String(rule), Number(n)]));
    expect(new Map(data.map((row) => [String(row.reason), num(row.count)]))).toEqual(expected);
    if (rows.length < 10)
      expect([...expected.values()].reduce((a, b) => a + b, 0)).toBe(
        [...untrusted.values()].reduce((a, b) => a + b, 0),
      );
  },

  async occupancy_by_lot({ data }) {
    const rows = await trinoRows(
      `select lot_id, sensor_id, max_by("value", "timestamp") from production.parking_sensors
       where kind = 'occupancy' group by 1, 2`,
    );
    expect(rows.length).toBeGreaterThan(1);
    const expected = new Map(rows.map(([lot, sensor, value]) => [`${String(lot)} ${String(sensor)}`, Number(value)]));
    const actual = new Map<string, number>();
    for (const row of data)
      for (const [column, value] of Object.entries(row)) {
        const n = num(value);
        if (column !== 'lot_id' && n !== undefined) actual.set(`${String(row.lot_id)} ${column}`, n);
      }
    expect(actual).toEqual(expected);
  },

  async freshness({ data }, { before, after }) {
    const newest = await newestKafkaMs();
    expect(new Map(data.map((row) => [String(row.table_name), num(row.newest_kafka_time)]))).toEqual(newest);
    for (const row of data) {
      const age = num(row.age_seconds)! * 1000;
      const kafka = newest.get(String(row.table_name))!;
      // The age is taken at the moment Superset's query ran, between the two Trino clocks read around it.
      expect(age).toBeGreaterThanOrEqual(before - kafka - 1);
      expect(age).toBeLessThanOrEqual(after - kafka + 1);
    }
  },

  async stalest_table_age({ data }, { before, after }) {
    const oldest = Math.min(...(await newestKafkaMs()).values());
    expect(data).toHaveLength(1);
    const age = num(data[0].age_seconds)! * 1000;
    expect(age).toBeGreaterThanOrEqual(before - oldest - 1);
    expect(age).toBeLessThanOrEqual(after - oldest + 1);
  },
};

describe('the Superset dashboard over Trino', () => {
  it('is imported with every chart of its directory, and the import script says what is wrong', async () => {
    expect(CHART_FILES.length).toBeGreaterThanOrEqual(5);
    expect([...chartIds.keys()].sort()).toEqual(CHART_FILES.map((f) => f.name));
    expect(Object.keys(CHECKS).sort()).toEqual(CHART_FILES.map((f) => f.name));

    // Importing again overwrites: still one dashboard with the same charts.
    const again = await importDashboard();
    expect(again.code, again.stderr).toBe(0);
    const charts = await api.get<{ result: { id: number }[] }>('/api/v1/dashboard/floe/charts');
    expect(charts.result.map((c) => c.id).sort()).toEqual([...chartIds.values()].sort());

    const help = await runScript(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--trino-uri/);
    const wrongPassword = await importDashboard('not-the-password');
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/login.*401|401.*login/is);
    const notTrino = await runScript(['--no-import', '--trino-uri', 'postgresql://x@y/floe']);
    expect(notTrino.code).toBe(1);
    expect(notTrino.stderr).toMatch(/must start with trino:\/\//);
    const twoCatalogs = await runScript(['--no-import', '--trino-uri', 'trino://x@y:8080/floe', '--catalog', 'lake']);
    expect(twoCatalogs.code).toBe(1);
    expect(twoCatalogs.stderr).toMatch(/catalog 'floe' but --catalog says 'lake'/);
  }, 180_000);

  it(
    "returns for every chart, through the chart-data API, Trino's numbers and floe's accounting",
    async () => {
      for (const chart of CHART_FILES) {
        const id = chartIds.get(chart.name);
        expect(id, `chart ${chart.name} is not on the dashboard`).toBeDefined();
        const before = await trinoNowMs();
        const response = await api.get<{ result: ChartData[] }>(`/api/v1/chart/${id}/data/?force=true`);
        const after = await trinoNowMs();
        expect(response.result, chart.name).toHaveLength(1);
        const [result] = response.result;
        expect(result.error, chart.name).toBeNull();
        expect(result.data.length, chart.name).toBeGreaterThan(0);
        const check = CHECKS[chart.name];
        expect(check, `no check for chart ${chart.name}`).toBeDefined();
        await check(result, { before, after });
        progress(`superset chart ${chart.name}: ${result.data.length} rows equal Trino's`);
      }
    },
    QUERY_TEST_MS,
  );

  it(
    'renders every chart in Chromium from the saved queries, and writes a screenshot',
    async () => {
      expect(existsSync(CHROMIUM), `${CHROMIUM} is needed (apt-get install -y chromium)`).toBe(true);
      const { chromium } = await import('playwright-core');
      const browser: Browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
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
      try {
        const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
        const sent = new Map<number, { queries: unknown[] }>();
        const answered = new Map<number, { status: number; errors: unknown[] }>();
        page.on('request', (request) => {
          if (request.method() !== 'POST' || !request.url().includes('/api/v1/chart/data')) return;
          const body = parseJson<{ form_data?: { slice_id?: number }; queries: unknown[] }>(request.postData() ?? '{}');
          if (body.form_data?.slice_id !== undefined) sent.set(body.form_data.slice_id, body);
        });
        page.on('response', async (response) => {
          const request = response.request();
          if (request.method() !== 'POST' || !request.url().includes('/api/v1/chart/data')) return;
          const sliceId = parseJson<{ form_data?: { slice_id?: number } }>(request.postData() ?? '{}').form_data
            ?.slice_id;
          const body = parseJson<{ result?: { error: unknown }[] }>(await response.text());
          if (sliceId !== undefined)
            answered.set(sliceId, {
              status: response.status(),
              errors: (body.result ?? []).map((r) => r.error).filter((e) => e !== null),
            });
        });

        await logIn(page);
        await page.goto(`${superset!.url}/superset/dashboard/floe/?standalone=1`);
        expect(new URL(page.url()).pathname).toBe('/superset/dashboard/floe/');
        for (const [name, id] of chartIds) {
          const holder = page.locator(`[data-test-chart-id="${id}"]`);
          // ECharts draws on a canvas, the table chart is a table, the big number a header line.
          await holder.locator('canvas, table, .header-line').first().waitFor({ timeout: 120_000 });
          await expect.poll(() => answered.get(id), { timeout: 10_000 }).toEqual({ status: 200, errors: [] });
          expect(await holder.locator('[role="alert"]').count(), `${name} shows an error`).toBe(0);
          // A chart element can exist before its data is drawn: wait for the bars, rows or number themselves.
          await expect.poll(() => drawnData(holder), { timeout: 30_000, message: `${name} draws its data` }).toBe(true);
          // What the page asked for is the saved query the chart-data API check ran.
          expect(sent.get(id)?.queries, name).toEqual(CHART_FILES.find((f) => f.name === name)!.queries);
        }
        expect(await page.locator('[data-test="loading-indicator"]').count()).toBe(0);
        // A full-page screenshot of a taller page resizes the viewport, and ECharts redraws (animating in from empty):
        // the viewport takes the page's height first, and every chart is waited for again after that resize.
        const height = await page.locator('html').evaluate((html) => html.scrollHeight);
        await page.setViewportSize({ width: 1600, height });
        for (const [name, id] of chartIds) {
          const holder = page.locator(`[data-test-chart-id="${id}"]`);
          await expect
            .poll(() => drawnData(holder), { timeout: 30_000, message: `${name} redraws its data` })
            .toBe(true);
        }

        const file = path.join(tmp.dir, 'superset-dashboard.png');
        const png = await settledScreenshot(page, file);
        const image = PNG.sync.read(png);
        expect(image.width).toBe(1600);
        // Six drawn charts: the bars in the palette's colours, not only grey text on white.
        expect(colouredPixels(image)).toBeGreaterThan(5_000);
        const out = process.env.FLOE_SCREENSHOT_OUT;
        if (out) {
          copyFileSync(file, out);
          progress(`superset: screenshot written to ${out}`);
        }
      } finally {
        await browser.close();
      }
    },
    QUERY_TEST_MS,
  );
});

/**
 * Logs the browser in with Superset's login form, posted from the page's context so that the session cookie lands in
 * the browser. Not by typing into the page: the login page's own event-log request, answered with a redirect and a
 * fresh anonymous session, can arrive after the login's answer and log the browser out again.
 */
async function logIn(page: Page): Promise<void> {
  const form = await page.request.get(`${superset!.url}/login/`);
  const csrf = /id="csrf_token"[^>]*value="([^"]+)"/.exec(await form.text())?.[1];
  expect(csrf, 'the login form carries a CSRF token').toBeDefined();
  const answer = await page.request.post(`${superset!.url}/login/`, {
    form: { csrf_token: csrf!, username: superset!.username, password: superset!.password },
  });
  expect(answer.status()).toBe(200);
  expect(new URL(answer.url()).pathname, 'logged in, not sent back to the login form').not.toMatch(/^\/login/);
}

/** A full-page screenshot once two in a row are identical: the charts' entry animations have finished. */
async function settledScreenshot(page: Page, file: string): Promise<Buffer> {
  let previous = await page.screenshot({ fullPage: true });
  for (let attempt = 0; attempt < 50; attempt++) {
    const next = await page.screenshot({ path: file, fullPage: true });
    if (next.equals(previous)) return next;
    previous = next;
  }
  throw new Error('the dashboard kept changing: 50 screenshots in a row differed');
}

/**
 * Whether a chart shows its data: an ECharts canvas with palette-coloured bars on it (ECharts animates them in, so
 * an empty canvas comes first), a table with body rows, or a big number with digits.
 */
async function drawnData(holder: Locator): Promise<boolean> {
  return holder.evaluate((element) => {
    const canvases = [...element.querySelectorAll('canvas')];
    if (canvases.length > 0) {
      let coloured = 0;
      for (const canvas of canvases) {
        const context = canvas.getContext('2d');
        if (!context || canvas.width === 0 || canvas.height === 0) continue;
        const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 0; i < data.length; i += 4) {
          const spread = Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]);
          if (data[i + 3] > 200 && spread > 60) coloured++;
        }
      }
      return coloured > 200;
    }
    if (element.querySelector('table')) return element.querySelectorAll('tbody tr td').length > 0;
    return /\d/.test(element.querySelector('.header-line')?.textContent ?? '');
  });
}

/** Pixels far from grey: the palette's colours, which text, axes and the page background never use. */
function colouredPixels(image: PNG): number {
  let count = 0;
  for (let i = 0; i < image.data.length; i += 4) {
    const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) count++;
  }
  return count;
}
