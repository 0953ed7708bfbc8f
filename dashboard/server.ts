/**
 * The dashboard's HTTP server (`node:http`): the JSON API under `/api/`, the static page from `page/`, Chart.js's
 * browser bundle from `node_modules` (no CDN: it must work offline), and health endpoints. Read-only; no login — bind
 * it to localhost, or put it behind the cluster's authentication.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../shared/catalog/table-catalog.ts';
import { createLogger, type Logger } from '../shared/runtime/logger.ts';
import { parsePipelineConfig, type PipelineConfig } from '../shared/runtime/pipeline-config.ts';
import type { FileIO } from '../shared/storage/file-io.ts';
import { stringifyJson } from '../shared/util/lossless-json.ts';
import { handleApi } from './api.ts';
import { createMemo } from '../shared/lakehouse/memo.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';

export interface DashboardOptions {
  catalog: Catalog;
  io: FileIO;
  /** Warehouse root (`s3://bucket/prefix/`, `file:///dir/`); dead letters, maintenance reports and blobs live under it. */
  warehouse: string;
  /** Function name → base URL, whose `/metrics` the pipeline view reads. */
  functions: Record<string, string>;
  /** Namespaces and the claim-check prefix; the defaults when left out. */
  config?: PipelineConfig;
  /** Default 0: any free port (the URL says which). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger?: Logger;
  now?: () => Date;
}

export interface RunningDashboard {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The page and Chart.js's browser bundle: beside this module in the sources (`page/`; Chart.js from node_modules), or
 * beside the bundle in the container image, where the build copies them (`page/`, `page/vendor/chart.umd.min.js`).
 */
function staticFiles(): Record<string, { file: string; type: string }> {
  const page = fileURLToPath(new URL('./page/', import.meta.url));
  const copied = path.join(page, 'vendor', 'chart.umd.min.js');
  let chart = copied;
  if (!existsSync(copied)) {
    try {
      chart = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
    } catch {
      throw new Error(
        `the dashboard needs Chart.js's browser bundle: neither ${copied} nor the chart.js package is there`,
      );
    }
  }
  const html = { file: path.join(page, 'index.html'), type: 'text/html; charset=utf-8' };
  return {
    '/': html,
    '/index.html': html,
    '/app.js': { file: path.join(page, 'app.js'), type: 'text/javascript; charset=utf-8' },
    '/style.css': { file: path.join(page, 'style.css'), type: 'text/css; charset=utf-8' },
    '/vendor/chart.umd.min.js': { file: chart, type: 'text/javascript; charset=utf-8' },
  };
}

const HEALTH = new Set(['/healthz', '/health/readiness', '/health/liveness']);

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

function send(
  response: ServerResponse,
  status: number,
  body: string | Uint8Array,
  type: string,
  headers: Record<string, string> = {},
  head = false,
): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(head ? undefined : body);
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const log = options.logger ?? createLogger({ name: 'dashboard' });
  const assets = staticFiles();
  const ctx: ReadContext = {
    catalog: options.catalog,
    io: options.io,
    warehouse: options.warehouse.endsWith('/') ? options.warehouse : `${options.warehouse}/`,
    functions: options.functions,
    config: options.config ?? parsePipelineConfig({}, 'defaults'),
    now: options.now ?? (() => new Date()),
    memo: createMemo(),
  };

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://dashboard.local');
    const head = request.method === 'HEAD';
    if (url.pathname.startsWith('/api/') || url.pathname === '/api') {
      const started = performance.now();
      const result = await handleApi(ctx, request.method ?? 'GET', url);
      const ms = Math.round(performance.now() - started);
      if ('json' in result) {
        if (result.status >= 500)
          log.warn(
            { path: url.pathname, status: result.status, ms, error: (result.json as { error?: string }).error },
            'dashboard API request failed',
          );
        else log.debug({ path: url.pathname, status: result.status, ms }, 'dashboard API request');
        send(
          response,
          result.status,
          stringifyJson(result.json),
          'application/json; charset=utf-8',
          { 'Cache-Control': 'no-store' },
          head,
        );
      } else {
        send(response, result.status, result.bytes, result.contentType, result.headers, head);
      }
      return;
    }
    if (HEALTH.has(url.pathname))
      return send(response, 200, 'ok\n', 'text/plain; charset=utf-8', { 'Cache-Control': 'no-store' }, head);
    const asset = assets[url.pathname];
    if (!asset) return send(response, 404, 'not found\n', 'text/plain; charset=utf-8', {}, head);
    if (request.method !== 'GET' && !head)
      return send(response, 405, 'read-only\n', 'text/plain; charset=utf-8', { Allow: 'GET, HEAD' });
    send(response, 200, await readFile(asset.file), asset.type, { 'Cache-Control': 'no-cache' }, head);
  }

  const server = createServer((request, response) => {
    serve(request, response).catch((err) => {
      log.error({ err, url: request.url }, 'dashboard request failed');
      if (!response.headersSent)
        send(
          response,
          500,
          stringifyJson({ error: (err as Error)?.message ?? String(err) }),
          'application/json; charset=utf-8',
        );
      else response.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const url = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`;
  log.info({ url, functions: Object.keys(options.functions) }, 'dashboard listening');
  return {
    url,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
