/**
 * Routes of the Iceberg REST endpoint below `/iceberg/`: the read API (config, namespaces, tables, load table) is
 * served; the spec's write operations answer 406 UnsupportedOperationException, since floe commits to its tables
 * through the Nessie API (`/api/v2`) and this endpoint only lets other engines read them. The config response lists
 * the served endpoints, so a client knows before it calls.
 */
import {
  config,
  listNamespaces,
  listTables,
  loadNamespace,
  loadTable,
  namespaceExists,
  tableExists,
  type IcebergCatalogSettings,
} from './iceberg-catalog.ts';
import { IcebergRestError, unsupported } from './iceberg-errors.ts';
import { decodeNamespace, decodePrefix, decodeSegment, parseTableName } from './iceberg-paths.ts';
import type { Repository } from './repository.ts';

export interface IcebergRequest {
  repo: Repository;
  query: URLSearchParams;
  /** `http://host:port` as the client reached the server: the base of the URIs the config hands out. */
  baseUri: string;
}

/** No `body`: an empty answer (a HEAD's 204, or a GET asked for with HEAD). */
export interface IcebergReply {
  status: number;
  body?: unknown;
}

type Handler = (request: IcebergRequest) => Promise<IcebergReply> | IcebergReply;

const ok = (body: unknown): IcebergReply => ({ status: 200, body });
const noContent: IcebergReply = { status: 204 };

/** The token endpoint answers in OAuth's error shape, not Iceberg's: clients parse it as an OAuth error. */
const noTokens: IcebergReply = {
  status: 501,
  body: {
    error: 'NotImplemented',
    error_description: 'This server issues no tokens and needs none: configure the client without credentials.',
  },
};

function optional(query: URLSearchParams, name: string): string | undefined {
  return query.get(name) ?? undefined;
}

function paging(query: URLSearchParams) {
  return { pageToken: optional(query, 'pageToken'), pageSize: optional(query, 'pageSize') };
}

/** The handler for `method` on a raw (still URL-encoded) path below `/iceberg/`; for a path not served it throws the answer. */
export function icebergRoute(settings: IcebergCatalogSettings, rawPath: string, method: string): Handler {
  const segments = rawPath.split('/');
  const notFound = () => {
    throw new IcebergRestError(404, 'NotFoundException', `No endpoint: ${method} /iceberg/${rawPath}`);
  };
  const notSupported = () => {
    throw unsupported(
      `${method} /iceberg/${rawPath} is not supported: floe's Nessie serves the Iceberg REST catalog for reading; ` +
        "write through the Nessie API (/api/v2), as floe and Iceberg's NessieCatalog do",
    );
  };
  const read = method === 'GET' || method === 'HEAD';
  // HEAD of a GET-only resource answers as the GET would, without its body.
  const asGet =
    (handler: Handler): Handler =>
    async (request) => {
      const reply = await handler(request);
      return method === 'HEAD' ? { status: reply.status } : reply;
    };

  // /iceberg/v1/config and /iceberg/{reference}/v1/config
  const configAt = segments[0] === 'v1' ? 1 : segments[1] === 'v1' ? 2 : -1;
  if (configAt > 0 && segments.length === configAt + 1 && segments[configAt] === 'config') {
    if (!read) return notSupported;
    const reference = configAt === 2 ? decodeSegment(segments[0]) : undefined;
    return asGet(({ repo, query, baseUri }) =>
      ok(config(repo, settings, { reference, warehouse: optional(query, 'warehouse'), baseUri })),
    );
  }
  if (
    configAt > 0 &&
    segments.length === configAt + 2 &&
    segments[configAt] === 'oauth' &&
    segments[configAt + 1] === 'tokens'
  ) {
    return () => noTokens;
  }
  if (segments[0] !== 'v1' || segments.length < 3 || !segments[1]) return notFound;

  const prefix = () => decodePrefix(segments[1], settings.warehouse);
  const [, , collection, rawNamespace, kind, rawName, extra] = segments;
  if (collection === 'tables' || collection === 'views' || collection === 'transactions') {
    const known = segments.length === 4 && rawNamespace === (collection === 'transactions' ? 'commit' : 'rename');
    return known ? notSupported : notFound;
  }
  if (collection !== 'namespaces') return notFound;

  // /v1/{prefix}/namespaces
  if (segments.length === 3) {
    if (!read) return method === 'POST' ? notSupported : notFound;
    return asGet(({ repo, query }) => {
      const parent = optional(query, 'parent');
      const levels = parent ? decodeNamespace(parent, false) : [];
      return ok(listNamespaces(repo, prefix(), levels, paging(query)));
    });
  }
  if (!rawNamespace) return notFound;
  const namespace = () => decodeNamespace(rawNamespace, true);

  // /v1/{prefix}/namespaces/{namespace}
  if (segments.length === 4) {
    if (method === 'HEAD')
      return ({ repo }) => {
        namespaceExists(repo, prefix(), namespace());
        return noContent;
      };
    if (method === 'GET') return ({ repo }) => ok(loadNamespace(repo, prefix(), namespace()));
    return method === 'DELETE' ? notSupported : notFound;
  }

  // /v1/{prefix}/namespaces/{namespace}/tables
  if (kind === 'tables' && segments.length === 5) {
    if (!read) return method === 'POST' ? notSupported : notFound;
    return asGet(({ repo, query }) => ok(listTables(repo, prefix(), namespace(), paging(query))));
  }

  // /v1/{prefix}/namespaces/{namespace}/tables/{table}
  if (kind === 'tables' && segments.length === 6 && rawName) {
    const table = () => parseTableName(decodeSegment(rawName));
    if (method === 'HEAD')
      return ({ repo }) => {
        tableExists(repo, prefix(), namespace(), table());
        return noContent;
      };
    if (method === 'GET')
      return async ({ repo, query }) =>
        ok(await loadTable(repo, settings, prefix(), namespace(), table(), optional(query, 'snapshots')));
    return method === 'POST' || method === 'DELETE' ? notSupported : notFound;
  }

  // The rest of the spec's namespace-scoped operations: properties, register, views, credentials, metrics, plans.
  const spec =
    (segments.length === 5 && ['properties', 'register', 'views'].includes(kind)) ||
    (segments.length === 6 && kind === 'views' && rawName) ||
    (segments.length === 7 &&
      kind === 'tables' &&
      rawName &&
      ['credentials', 'metrics', 'plan', 'tasks'].includes(extra));
  return spec ? notSupported : notFound;
}
