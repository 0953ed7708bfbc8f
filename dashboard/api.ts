/**
 * The dashboard's JSON API (documented in README.md): one function from a GET request to a result, independent of
 * the HTTP server. Unknown query parameters are refused, so a typo is an error rather than a silently ignored filter.
 */
import { readBlob } from './blob-view.ts';
import { branchesView } from '../shared/lakehouse/branch-views.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';
import { deadlettersView } from './deadletter-view.ts';
import { ApiError, badRequest, errorResponse, notFound } from '../shared/lakehouse/read-errors.ts';
import { functionsView } from './function-metrics.ts';
import { maintenanceView } from './maintenance-runs.ts';
import { overview } from './overview.ts';
import { limitParam, refParam, tableParam, whereParam } from './query-params.ts';
import { newestRows } from './row-browser.ts';
import { listTables, tableDetail } from '../shared/lakehouse/table-summaries.ts';
import { listTagsView, tagDetailView } from '../shared/lakehouse/tag-views.ts';

export type ApiResult =
  | { status: number; json: unknown }
  | { status: number; bytes: Uint8Array; contentType: string; headers: Record<string, string> };

function only(query: URLSearchParams, allowed: string[]): void {
  for (const name of new Set(query.keys())) {
    if (!allowed.includes(name))
      throw badRequest(
        `unknown query parameter '${name.slice(0, 60)}'${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`,
      );
    if (query.getAll(name).length > 1) throw badRequest(`query parameter '${name}' is given more than once`);
  }
}

async function route(ctx: ReadContext, path: string, query: URLSearchParams): Promise<ApiResult> {
  const json = (value: unknown): ApiResult => ({ status: 200, json: value });
  const simple: Record<string, (c: ReadContext) => Promise<unknown>> = {
    '/api/overview': overview,
    '/api/tables': listTables,
    '/api/branches': branchesView,
    '/api/functions': functionsView,
    '/api/deadletters': deadlettersView,
    '/api/maintenance': maintenanceView,
    '/api/tags': listTagsView,
  };
  if (simple[path]) {
    only(query, []);
    return json(await simple[path](ctx));
  }
  const table = /^\/api\/tables\/([^/]+)(\/rows)?$/.exec(path);
  if (table) {
    const name = tableParam(table[1]);
    if (!table[2]) {
      only(query, ['ref']);
      return json(await tableDetail(ctx, name, refParam(query.get('ref'))));
    }
    only(query, ['ref', 'limit', 'where']);
    const ref = refParam(query.get('ref'));
    const limit = limitParam(query.get('limit'));
    const where = whereParam(query.get('where'));
    return json(await newestRows(ctx, name, ref, { limit, ...(where ? { where } : {}) }));
  }
  const tag = /^\/api\/tags\/([^/]+)$/.exec(path);
  if (tag) {
    only(query, []);
    return json(await tagDetailView(ctx, decodeURIComponent(tag[1])));
  }
  if (path === '/api/blob') {
    only(query, ['uri']);
    const blob = await readBlob(ctx, query.get('uri'));
    return {
      status: 200,
      bytes: blob.bytes,
      contentType: blob.contentType,
      headers: {
        // Content-addressed (the key is the sha256): the bytes under a URI never change.
        'Cache-Control': 'public, max-age=31536000, immutable',
        ...(blob.image ? {} : { 'Content-Disposition': 'attachment' }),
      },
    };
  }
  throw notFound(`no such endpoint: ${path}`);
}

/** Answers one API request; errors become `{ error }` with their status. */
export async function handleApi(ctx: ReadContext, method: string, url: URL): Promise<ApiResult> {
  try {
    if (method !== 'GET' && method !== 'HEAD')
      throw new ApiError(405, `${method} is not allowed: the dashboard API is read-only`);
    return await route(ctx, url.pathname.replace(/\/+$/, '') || '/', url.searchParams);
  } catch (err) {
    const { status, error } = errorResponse(err);
    return { status, json: { error } };
  }
}
