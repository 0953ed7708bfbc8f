/**
 * The embedded Nessie-compatible server: the REST v2 subset floe and Iceberg use, on `node:http`, over the durable
 * store, and beside it at `/iceberg` the read side of the Iceberg REST catalog API, as real Nessie serves it. Errors are
 * NessieError JSON bodies with Nessie's status codes (Iceberg error bodies below `/iceberg`); `errorDetails` only for
 * clients that send `Nessie-Client-Spec: 2`, as Nessie does.
 *
 * Deliberate differences from a real Nessie (Quarkus):
 * - an oversized body gets 413 with a NessieError body (errorCode BAD_REQUEST); Quarkus answers 413 with no body;
 * - an unknown path gets 404 with a NessieError body (errorCode UNKNOWN) instead of the container's default page;
 * - no authentication: a bearer token is accepted and ignored (the local stack has no users).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { NessieBadRequestError, NessieError } from '../../shared/catalog/nessie/errors.ts';
import { createLogger, type Logger } from '../../shared/runtime/logger.ts';
import { createFileIO, type FileIO } from '../../shared/storage/file-io.ts';
import type { IcebergCatalogSettings } from './iceberg-catalog.ts';
import { toIcebergError } from './iceberg-errors.ts';
import { icebergRoute } from './iceberg-routes.ts';
import { parseJson, stringifyJson } from '../../shared/util/lossless-json.ts';
import * as reads from './reads.ts';
import {
  headerMeta,
  parseContentsRequestBody,
  parseMergeBody,
  parseOperationsBody,
  parseReferenceBody,
  parseTransplantBody,
} from './requests.ts';
import { openNessieStore, type NessieStore } from './store.ts';
import * as writes from './writes.ts';

export interface NessieServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  dataDir: string;
  logger?: Logger;
  /** Request bodies larger than this get 413. Default 10 MiB (Quarkus' default limit). */
  maxBodyBytes?: number;
  /** Default branch of a new repository. Default `main`. */
  defaultBranch?: string;
  /** See NessieStoreOptions.compactAfterBytes. */
  compactAfterBytes?: number;
  /** Serve the directory as it is without writing to it (see NessieStoreOptions.readOnly): every write gets 403. */
  readOnly?: boolean;
  /**
   * Where the tables live (`file:///…/`, `s3://…/`): the Iceberg REST endpoint announces it as the location of its
   * one warehouse, named `warehouse`. Without it that warehouse has no location.
   */
  warehouse?: string;
  /** Reads table metadata files for the Iceberg REST endpoint. Default: local files (`file:` and absolute paths). */
  fileIO?: Pick<FileIO, 'read'>;
}

export interface RunningNessieServer {
  /** The API base for clients, e.g. `http://127.0.0.1:19120/api`. */
  uri: string;
  /** The Iceberg REST catalog's base for clients, e.g. `http://127.0.0.1:19120/iceberg`. */
  icebergUri: string;
  port: number;
  stop(): Promise<void>;
}

interface Request {
  method: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body(): Promise<unknown>;
}

type Handler = (request: Request) => Promise<unknown> | unknown;

/**
 * The body as sent, decoded from its Content-Encoding: Nessie's Java client (the one Iceberg's NessieCatalog uses)
 * gzips request bodies, and Quarkus decodes them; the limit also bounds the decoded size.
 */
function decodeBody(bytes: Buffer, encoding: string | undefined, limit: number): Buffer {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return bytes;
  const decode =
    name === 'gzip' || name === 'x-gzip' ? zlib.gunzipSync : name === 'deflate' ? zlib.inflateSync : undefined;
  if (!decode) throw new NessieError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding '${encoding}' is not supported`);
  try {
    return decode(bytes, { maxOutputLength: limit });
  } catch (err) {
    if (err instanceof RangeError)
      throw new NessieBadRequestError(`Request body exceeds the limit of ${limit} bytes`, 413);
    throw new NessieBadRequestError(`Request body is not valid ${name}: ${(err as Error).message}`);
  }
}

/** Reads the body up to `limit` bytes; beyond it the rest is drained (so the client sees the answer) and 413 follows. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
      // A client that keeps sending far past the limit is cut off.
      if (size > limit * 4 + 1024 * 1024) req.destroy();
    });
    const overLimit = () => new NessieBadRequestError(`Request body exceeds the limit of ${limit} bytes`, 413);
    req.on('end', () => {
      ended = true;
      if (tooLarge) reject(overLimit());
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    // Every request closes, most after their end: an error (and its stack trace) only for those cut off.
    req.on('close', () => {
      if (!ended) reject(tooLarge ? overLimit() : new NessieBadRequestError('Request body was cut off'));
    });
    req.on('error', reject);
  });
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null || text === '') return undefined;
  if (!/^\d+$/.test(text))
    throw new NessieBadRequestError(`Query parameter '${name}' must be a non-negative integer, got '${text}'`);
  return Number(text);
}

function optional(query: URLSearchParams, name: string): string | undefined {
  return query.get(name) ?? undefined;
}

function keyParams(query: URLSearchParams) {
  const key = (name: string) => {
    const text = query.get(name);
    return text === null ? undefined : reads.parseKeyParam(text, name);
  };
  return {
    keys: query.getAll('key').map((k) => reads.parseKeyParam(k, 'key')),
    minKey: key('min-key'),
    maxKey: key('max-key'),
    prefixKey: key('prefix-key'),
  };
}

function paging(query: URLSearchParams) {
  return { maxRecords: intParam(query, 'max-records'), pageToken: optional(query, 'page-token') };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new NessieBadRequestError(`Malformed URL encoding in '${segment}'`);
  }
}

/** The handlers of `/api/v2/trees/{ref}/...` by the path after the reference element. */
function treeRoutes(store: NessieStore, ref: string, suffix: string[], method: string): Handler | undefined {
  const view = () => store.view();
  const [first, second] = suffix;
  const rest = () => decode(suffix.slice(1).join('/'));
  if (suffix.length === 0) {
    if (method === 'GET') return (r) => reads.getReference(view(), ref, optional(r.query, 'fetch'));
    if (method === 'PUT')
      return async (r) => {
        const body = parseReferenceBody(await r.body());
        return store.write((repo) => writes.assignReference(repo, ref, optional(r.query, 'type'), body));
      };
    if (method === 'DELETE')
      return (r) => store.write((repo) => writes.deleteReference(repo, ref, optional(r.query, 'type')));
    return undefined;
  }
  if (first === 'history' && suffix.length === 1 && method === 'GET') {
    return (r) =>
      reads.commitLog(view(), ref, {
        ...paging(r.query),
        limitHash: optional(r.query, 'limit-hash'),
        fetch: optional(r.query, 'fetch'),
        filter: optional(r.query, 'filter'),
      });
  }
  if (first === 'history' && suffix.length === 2 && method === 'POST') {
    if (second === 'commit')
      return async (r) => {
        const body = parseOperationsBody(await r.body());
        return store.write((repo) => writes.commit(repo, ref, body, headerMeta(r.headers)));
      };
    if (second === 'merge')
      return async (r) => {
        const body = parseMergeBody(await r.body());
        return store.write((repo) => writes.merge(repo, ref, body, headerMeta(r.headers)));
      };
    if (second === 'transplant')
      return async (r) => {
        const body = parseTransplantBody(await r.body());
        return store.write((repo) => writes.transplant(repo, ref, body, headerMeta(r.headers)));
      };
    return undefined;
  }
  if (first === 'contents') {
    if (suffix.length === 1 && method === 'GET') return (r) => reads.getContents(view(), ref, keyParams(r.query).keys);
    if (suffix.length === 1 && method === 'POST')
      return async (r) => reads.getContents(view(), ref, parseContentsRequestBody(await r.body()).requestedKeys);
    if (suffix.length >= 2 && method === 'GET')
      return () => reads.getContent(view(), ref, reads.parseKeyParam(rest(), 'content key'));
    return undefined;
  }
  if (first === 'entries' && suffix.length === 1 && method === 'GET') {
    return (r) =>
      reads.entries(view(), ref, {
        ...paging(r.query),
        ...keyParams(r.query),
        filter: optional(r.query, 'filter'),
        content: r.query.get('content') === 'true',
      });
  }
  if (first === 'diff' && suffix.length >= 2 && method === 'GET') {
    return (r) =>
      reads.diff(view(), ref, rest(), {
        ...paging(r.query),
        ...keyParams(r.query),
        filter: optional(r.query, 'filter'),
      });
  }
  return undefined;
}

/**
 * Finds the handler for a raw (still URL-encoded) path below `/api/v2/`. A reference element normally arrives as one
 * encoded segment (`wap%2Fjob-42%40<hash>`); like Nessie's `([^/]+|[^@]+(@|%40)[^@/]*)` pattern, an unencoded name
 * with `/` is accepted when an `@` follows it.
 */
function route(store: NessieStore, rawPath: string, method: string): Handler | 'method' | undefined {
  if (rawPath === 'config') return method === 'GET' ? () => reads.config(store.view()) : 'method';
  if (rawPath === 'trees') {
    if (method === 'GET')
      return (r) =>
        reads.listReferences(store.view(), {
          ...paging(r.query),
          fetch: optional(r.query, 'fetch'),
          filter: optional(r.query, 'filter'),
        });
    if (method === 'POST') {
      return async (r) => {
        const body = parseReferenceBody(await r.body());
        return store.write((repo) =>
          writes.createReference(repo, optional(r.query, 'name'), optional(r.query, 'type'), body),
        );
      };
    }
    return 'method';
  }
  if (!rawPath.startsWith('trees/')) return undefined;
  const segments = rawPath.slice('trees/'.length).split('/');
  let sawPath = false;
  for (let i = 1; i <= segments.length; i++) {
    const rawRef = segments.slice(0, i).join('/');
    if (i > 1 && !/@|%40/i.test(rawRef)) continue;
    if (!rawRef) return undefined;
    const handler = treeRoutes(store, decode(rawRef), segments.slice(i), method);
    if (handler) return handler;
    if (treeRoutes(store, decode(rawRef), segments.slice(i), method === 'GET' ? 'POST' : 'GET')) sawPath = true;
  }
  return sawPath ? 'method' : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = stringifyJson(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function clientSpec2(req: IncomingMessage): boolean {
  const value = req.headers['nessie-client-spec'];
  const major = Number.parseInt(String(Array.isArray(value) ? value[0] : (value ?? '')).split('.')[0], 10);
  return Number.isInteger(major) && major >= 2;
}

export async function startNessieServer(options: NessieServerOptions): Promise<RunningNessieServer> {
  const logger = options.logger ?? createLogger({ name: 'nessie' });
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const store = await openNessieStore({
    dataDir: options.dataDir,
    defaultBranch: options.defaultBranch,
    logger,
    compactAfterBytes: options.compactAfterBytes,
    readOnly: options.readOnly,
  });
  const iceberg: IcebergCatalogSettings = {
    warehouse: { name: 'warehouse', location: options.warehouse },
    io: options.fileIO ?? createFileIO({ localFiles: true }),
  };

  /** Below `/iceberg/`: no request bodies are read (nothing there writes). */
  async function handleIceberg(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    req.resume();
    const method = req.method ?? 'GET';
    const handler = icebergRoute(iceberg, url.pathname.slice('/iceberg/'.length), method);
    const host = req.headers.host ?? `${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
    const reply = await handler({ repo: store.view(), query: url.searchParams, baseUri: `http://${host}` });
    if (reply.body === undefined) {
      res.writeHead(reply.status);
      res.end();
    } else send(res, reply.status, reply.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/iceberg/')) return handleIceberg(req, res, url);
    const prefix = '/api/v2/';
    const handler = url.pathname.startsWith(prefix)
      ? route(store, url.pathname.slice(prefix.length), method)
      : undefined;
    if (!handler || handler === 'method') {
      req.resume();
      const status = handler === 'method' ? 405 : 404;
      throw new NessieError(
        status,
        'UNKNOWN',
        `${status === 405 ? 'Method not allowed' : 'No endpoint'}: ${method} ${url.pathname}`,
      );
    }
    let bodyRead: Promise<unknown> | undefined;
    const request: Request = {
      method,
      query: url.searchParams,
      headers: req.headers,
      body: () =>
        (bodyRead ??= (async () => {
          const type = String(req.headers['content-type'] ?? '');
          const bytes = decodeBody(await readBody(req, maxBodyBytes), req.headers['content-encoding'], maxBodyBytes);
          if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
            throw new NessieError(
              415,
              'UNSUPPORTED_MEDIA_TYPE',
              `Content-Type must be application/json, got '${type || 'none'}'`,
            );
          }
          if (bytes.length === 0) return undefined;
          try {
            // Decoded like TextDecoder does (a byte order mark dropped, bad bytes replaced).
            const text = bytes.toString('utf8');
            return parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
          } catch (err) {
            throw new NessieBadRequestError(`Malformed JSON request body: ${(err as Error).message}`);
          }
        })()),
    };
    const result = await handler(request);
    if (!bodyRead) req.resume();
    send(res, 200, result);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (req.url?.startsWith('/iceberg/')) {
        const error = toIcebergError(err);
        if (error.status >= 500) logger.error({ err, method: req.method, url: req.url }, 'Iceberg REST request failed');
        send(res, error.status, error.toBody());
      } else if (err instanceof NessieError) {
        if (err.status >= 500) logger.error({ err }, 'Nessie request failed');
        send(res, err.status, err.toBody(clientSpec2(req)));
      } else {
        logger.error({ err, method: req.method, url: req.url }, 'unhandled error in the Nessie server');
        send(res, 500, new NessieError(500, 'UNKNOWN', (err as Error)?.message ?? String(err)).toBody());
      }
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  let stopping: Promise<void> | undefined;
  return {
    uri: `http://${host}:${port}/api`,
    icebergUri: `http://${host}:${port}/iceberg`,
    port,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await store.close();
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
