/**
 * A client for the Nessie REST API v2 — the same code talks to a real Nessie and to floe's embedded server.
 *
 * Every body goes through the lossless JSON helpers, so Iceberg snapshot ids stay exact `bigint`s.
 *
 * Retries (bounded, exponential backoff with jitter) happen only where a repeat cannot apply a change twice or hide
 * an applied one:
 * - any request: a 409 REFERENCE_CONFLICT without a conflict list (Nessie exhausted its internal CAS retries and
 *   wrote nothing), 429 and 503 (refused before processing), and connection failures before the request was sent
 *   (refused, DNS, connect timeout);
 * - reads only (GET, and the POST that fetches several contents): also 502, 504, a reset connection and a timeout.
 * Writes are not retried after 500/502/504, a reset or a timeout: the server may have applied them. A repeated
 * commit would then fail with a conflict on its own change (it carries the old expected hash), which would be
 * misread as someone else's write. Those cases surface as `NessieTransportError` with `outcomeUnknown` (or the
 * `NessieError` for the status) so the caller re-reads the branch before deciding.
 */
import { parseJson, stringifyJson } from '../../util/lossless-json.ts';
import { errorFromResponse, NessieError, NessieReferenceConflictError, NessieTransportError } from './errors.ts';
import { encodeRef, keyToLegacyPathString, keyToPathString, refPathElement } from './paths.ts';
import { decodeContent } from './content-schema.ts';
import { httpRequest, HttpFailure, type HttpAnswer } from './transport.ts';
import type {
  CommitMeta,
  CommitMetaInput,
  CommitResponse,
  Content,
  ContentKey,
  DiffEntry,
  Entry,
  FetchOption,
  LogEntry,
  MergeBehavior,
  MergeKeyBehavior,
  MergeResponse,
  NamedReference,
  NessieConfiguration,
  Operation,
  Reference,
  ReferenceType,
} from './types.ts';

export interface NessieClientOptions {
  /** The API base, e.g. `http://127.0.0.1:19120/api` (paths `v2/...` are appended). */
  uri: string;
  /** Bearer token, or a function returning the current one (called per request, so it may refresh). */
  token?: string | (() => string | Promise<string>);
  /** Per attempt. Default 30 s. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures. Default 3. */
  retries?: number;
  /** First backoff delay; doubles per attempt, capped at 2 s, with full jitter. Default 50 ms. */
  retryDelayMs?: number;
}

export interface ContentAtRef<T> {
  /** The commit the read resolved to: use it as the expected hash of a follow-up commit. */
  effectiveReference: Reference;
  value: T;
}

export interface EntriesOptions {
  /** Only keys below this key (element-wise prefix). Not combinable with minKey/maxKey. */
  prefixKey?: ContentKey;
  minKey?: ContentKey;
  maxKey?: ContentKey;
  /** Only these keys. */
  keys?: ContentKey[];
  /** CEL over `entry.namespace`, `entry.contentType`, `entry.name`, `entry.encodedKey`, `entry.keyElements`. */
  filter?: string;
  /** Include the content objects. */
  content?: boolean;
}

export interface MergeRequest {
  fromRefName: string;
  fromHash: string;
  commitMeta?: CommitMetaInput;
  defaultKeyMergeMode?: MergeBehavior;
  keyMergeModes?: MergeKeyBehavior[];
  dryRun?: boolean;
  /** Default true here: conflicts come back as `wasSuccessful: false` with `details[].conflict`, not as a 409. */
  returnConflictAsResult?: boolean;
}

export interface TransplantRequest {
  fromRefName: string;
  hashesToTransplant: string[];
  commitMeta?: CommitMetaInput;
  defaultKeyMergeMode?: MergeBehavior;
  keyMergeModes?: MergeKeyBehavior[];
  dryRun?: boolean;
  returnConflictAsResult?: boolean;
}

export interface CommitLogOptions {
  /** Stop at (and include) this commit. */
  limitHash?: string;
  /** Page size hint. */
  maxRecords?: number;
  /** `ALL` adds each commit's operations. */
  fetch?: FetchOption;
  /** CEL over `commit.*` (and `operations` with fetch ALL). */
  filter?: string;
}

export interface NessieClient {
  readonly uri: string;
  config(): Promise<NessieConfiguration>;
  /** A branch or tag by name (no hash); `-` is the default branch. */
  getReference(name: string, options?: { fetch?: FetchOption }): Promise<NamedReference>;
  listReferences(options?: { filter?: string; fetch?: FetchOption }): Promise<NamedReference[]>;
  /** Creates branch/tag `name` at `from.hash` (mandatory); `from.name` names the source reference, if any. */
  createReference(name: string, type: ReferenceType, from: { name?: string; hash: string }): Promise<NamedReference>;
  /** Deletes `name`, which must be at `hash`. */
  deleteReference(name: string, type: ReferenceType, hash: string): Promise<NamedReference>;
  /** Points `name` (currently at `expectedHash`) to `to.hash`. */
  assignReference(
    name: string,
    type: ReferenceType,
    expectedHash: string,
    to: { name?: string; hash: string },
  ): Promise<NamedReference>;
  /** One content object at `ref` (`name`, `name@hash`, `@hash`, `name~1` …); throws NessieNotFoundError if absent. */
  getContent(ref: string, key: ContentKey): Promise<ContentAtRef<Content>>;
  /** Several content objects; absent keys are left out. */
  getContents(ref: string, keys: ContentKey[]): Promise<ContentAtRef<Array<{ key: ContentKey; content: Content }>>>;
  /** All entries (every page). */
  listEntries(ref: string, options?: EntriesOptions): Promise<ContentAtRef<Entry[]>>;
  /** Commits `operations` on `branch` against `expectedHash`; conflicts only if the touched keys changed since then. */
  commit(branch: string, expectedHash: string, meta: CommitMetaInput, operations: Operation[]): Promise<CommitResponse>;
  merge(targetBranch: string, expectedHash: string, request: MergeRequest): Promise<MergeResponse>;
  transplant(targetBranch: string, expectedHash: string, request: TransplantRequest): Promise<MergeResponse>;
  /** Commits newest first, across pages. */
  commitLog(ref: string, options?: CommitLogOptions): AsyncIterable<LogEntry>;
  /** Keys whose content differs between two references (every page). */
  diff(fromRef: string, toRef: string, options?: { prefixKey?: ContentKey; keys?: ContentKey[] }): Promise<DiffEntry[]>;
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Array<[string, string | undefined]>;
  body?: unknown;
  /** Reads may be retried after ambiguous failures; writes may not. */
  read: boolean;
}

function metaBody(meta: CommitMetaInput | undefined): Record<string, unknown> | undefined {
  if (!meta) return undefined;
  const properties = meta.properties
    ? Object.fromEntries(Object.entries(meta.properties).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]))
    : undefined;
  return {
    message: meta.message,
    authors: meta.authors,
    allSignedOffBy: meta.allSignedOffBy,
    allProperties: properties,
    authorTime: meta.authorTime,
  };
}

function decodeOperations(raw: unknown): Operation[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const operations: Operation[] = [];
  for (const op of raw as Array<Record<string, unknown>>) {
    const key = op.key as ContentKey;
    if (op.type === 'PUT') {
      const content = decodeContent(op.content);
      if (content) operations.push({ type: 'PUT', key, content });
    } else if (op.type === 'DELETE' || op.type === 'UNCHANGED') {
      operations.push({ type: op.type, key });
    }
  }
  return operations;
}

function decodeLogEntry(raw: Record<string, unknown>): LogEntry {
  const entry: LogEntry = { commitMeta: raw.commitMeta as CommitMeta };
  if (typeof raw.parentCommitHash === 'string') entry.parentCommitHash = raw.parentCommitHash;
  const operations = decodeOperations(raw.operations);
  if (operations) entry.operations = operations;
  return entry;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createNessieClient(options: NessieClientOptions): NessieClient {
  const base = options.uri.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 50;
  let escapedKeys: Promise<boolean> | undefined;

  async function authorization(): Promise<string | undefined> {
    if (options.token === undefined) return undefined;
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    return `Bearer ${token}`;
  }

  function url(spec: RequestSpec): string {
    const query = new URLSearchParams();
    for (const [name, value] of spec.query ?? []) if (value !== undefined) query.append(name, value);
    const text = query.toString();
    return `${base}/v2/${spec.path}${text ? `?${text}` : ''}`;
  }

  /** One attempt; returns the parsed body, or throws a NessieError / NessieTransportError tagged with retryability. */
  async function attempt(spec: RequestSpec): Promise<{ value?: unknown; error?: Error; retry: boolean }> {
    const headers: Record<string, string> = { Accept: 'application/json', 'Nessie-Client-Spec': '2' };
    const auth = await authorization();
    if (auth) headers.Authorization = auth;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = stringifyJson(spec.body);
    }
    let response: HttpAnswer;
    try {
      response = await httpRequest(url(spec), spec.method, headers, body, timeoutMs);
    } catch (err) {
      // Anything but an HttpFailure was thrown before a byte went out (a header value Node refuses, a malformed URI):
      // nothing was applied, and sending it again would fail the same way.
      if (!(err instanceof HttpFailure)) {
        const message = `Nessie ${spec.method} ${spec.path} failed: ${(err as Error)?.message}`;
        return { error: new NessieTransportError(message, false, err), retry: false };
      }
      const what = err.timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${err.message}`;
      const error = new NessieTransportError(
        `Nessie ${spec.method} ${spec.path} ${what}`,
        !err.notSent && !spec.read,
        err.cause ?? err,
      );
      return { error, retry: err.notSent || spec.read };
    }
    const { text } = response;
    let json: unknown;
    try {
      json = text ? parseJson(text) : undefined;
    } catch {
      json = undefined;
    }
    if (response.status >= 200 && response.status < 300) {
      if (json === undefined && text)
        return {
          error: new NessieError(
            response.status,
            'UNKNOWN',
            `Nessie ${spec.method} ${spec.path}: response is not JSON`,
          ),
          retry: false,
        };
      return { value: json, retry: false };
    }
    const error = errorFromResponse(
      response.status,
      json,
      `Nessie ${spec.method} ${spec.path}: HTTP ${response.status} ${text.slice(0, 200)}`.trim(),
    );
    const retry =
      (error instanceof NessieReferenceConflictError && error.retryable) ||
      response.status === 429 ||
      response.status === 503 ||
      (spec.read && (response.status === 502 || response.status === 504));
    return { error, retry };
  }

  async function request<T>(spec: RequestSpec): Promise<T> {
    for (let n = 0; ; n++) {
      const outcome = await attempt(spec);
      if (!outcome.error) return outcome.value as T;
      if (!outcome.retry || n >= retries) throw outcome.error;
      await sleep(Math.random() * Math.min(2000, retryDelayMs * 2 ** n));
    }
  }

  async function keyPath(key: ContentKey): Promise<string> {
    // eslint-disable-next-line no-control-regex -- Nessie's key rules and legacy encoding are about control characters
    if (!key.elements.some((e) => /[./\\%\u0000]/.test(e))) return key.elements.join('.');
    // The escaped form exists since spec 2.2.0 (Nessie 0.96); older servers only know the legacy form.
    escapedKeys ??= config().then(
      (c) => (c.specVersion ?? '0').localeCompare('2.2.0', undefined, { numeric: true }) >= 0,
    );
    return (await escapedKeys) ? keyToPathString(key.elements) : keyToLegacyPathString(key.elements);
  }

  async function config(): Promise<NessieConfiguration> {
    return request<NessieConfiguration>({ method: 'GET', path: 'config', read: true });
  }

  async function reference(spec: RequestSpec): Promise<NamedReference> {
    return (await request<{ reference: NamedReference }>(spec)).reference;
  }

  async function* pages<T>(spec: RequestSpec, items: (page: Record<string, unknown>) => T[]): AsyncGenerator<T> {
    let token: string | undefined;
    do {
      const page = await request<Record<string, unknown>>({
        ...spec,
        query: [...(spec.query ?? []), ['page-token', token]],
      });
      yield* items(page);
      token = page.hasMore && typeof page.token === 'string' ? page.token : undefined;
    } while (token);
  }

  async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const item of iterable) out.push(item);
    return out;
  }

  const client: NessieClient = {
    uri: base,
    config,

    getReference(name, opts = {}) {
      return reference({ method: 'GET', path: `trees/${encodeRef(name)}`, query: [['fetch', opts.fetch]], read: true });
    },

    listReferences(opts = {}) {
      const spec: RequestSpec = {
        method: 'GET',
        path: 'trees',
        query: [
          ['filter', opts.filter],
          ['fetch', opts.fetch],
        ],
        read: true,
      };
      return collect(pages(spec, (page) => (page.references ?? []) as NamedReference[]));
    },

    createReference(name, type, from) {
      const body = from.name
        ? { type: 'BRANCH', name: from.name, hash: from.hash }
        : { type: 'DETACHED', hash: from.hash };
      return reference({
        method: 'POST',
        path: 'trees',
        query: [
          ['name', name],
          ['type', type],
        ],
        body,
        read: false,
      });
    },

    deleteReference(name, type, hash) {
      return reference({
        method: 'DELETE',
        path: `trees/${encodeURIComponent(refPathElement(name, hash))}`,
        query: [['type', type]],
        read: false,
      });
    },

    assignReference(name, type, expectedHash, to) {
      const body = to.name ? { type: 'BRANCH', name: to.name, hash: to.hash } : { type: 'DETACHED', hash: to.hash };
      return reference({
        method: 'PUT',
        path: `trees/${encodeURIComponent(refPathElement(name, expectedHash))}`,
        query: [['type', type]],
        body,
        read: false,
      });
    },

    async getContent(ref, key) {
      const path = `trees/${encodeRef(ref)}/contents/${encodeURIComponent(await keyPath(key))}`;
      const response = await request<{ content: unknown; effectiveReference: Reference }>({
        method: 'GET',
        path,
        read: true,
      });
      const content = decodeContent(response.content);
      if (!content) throw new TypeError(`content of '${key.elements.join('.')}' has a type this client does not know`);
      return { effectiveReference: response.effectiveReference, value: content };
    },

    async getContents(ref, keys) {
      const response = await request<{
        contents: Array<{ key: ContentKey; content: unknown }>;
        effectiveReference: Reference;
      }>({
        method: 'POST',
        path: `trees/${encodeRef(ref)}/contents`,
        body: { requestedKeys: keys },
        read: true,
      });
      const value: Array<{ key: ContentKey; content: Content }> = [];
      for (const item of response.contents ?? []) {
        const content = decodeContent(item.content);
        if (content) value.push({ key: item.key, content });
      }
      return { effectiveReference: response.effectiveReference, value };
    },

    async listEntries(ref, opts = {}) {
      const query: Array<[string, string | undefined]> = [
        ['prefix-key', opts.prefixKey && (await keyPath(opts.prefixKey))],
        ['min-key', opts.minKey && (await keyPath(opts.minKey))],
        ['max-key', opts.maxKey && (await keyPath(opts.maxKey))],
        ['filter', opts.filter],
        ['content', opts.content ? 'true' : undefined],
      ];
      for (const key of opts.keys ?? []) query.push(['key', await keyPath(key)]);
      let effectiveReference: Reference | undefined;
      const entries = await collect(
        pages({ method: 'GET', path: `trees/${encodeRef(ref)}/entries`, query, read: true }, (page) => {
          effectiveReference ??= page.effectiveReference as Reference;
          return ((page.entries ?? []) as Array<Record<string, unknown>>).map((raw) => {
            const entry: Entry = { type: String(raw.type), name: raw.name as ContentKey };
            if (typeof raw.contentId === 'string') entry.contentId = raw.contentId;
            const content = raw.content === undefined || raw.content === null ? undefined : decodeContent(raw.content);
            if (content) entry.content = content;
            return entry;
          });
        }),
      );
      return { effectiveReference: effectiveReference as Reference, value: entries };
    },

    commit(branch, expectedHash, meta, operations) {
      return request<CommitResponse>({
        method: 'POST',
        path: `trees/${encodeURIComponent(refPathElement(branch, expectedHash))}/history/commit`,
        body: { commitMeta: metaBody(meta), operations },
        read: false,
      }).then((r) => ({ targetBranch: r.targetBranch, addedContents: r.addedContents ?? [] }));
    },

    merge(targetBranch, expectedHash, req) {
      const body = {
        ...req,
        commitMeta: metaBody(req.commitMeta),
        returnConflictAsResult: req.returnConflictAsResult ?? true,
      };
      return request<MergeResponse>({
        method: 'POST',
        path: `trees/${encodeURIComponent(refPathElement(targetBranch, expectedHash))}/history/merge`,
        body,
        read: false,
      });
    },

    transplant(targetBranch, expectedHash, req) {
      const body = {
        ...req,
        commitMeta: undefined,
        message: req.commitMeta?.message,
        returnConflictAsResult: req.returnConflictAsResult ?? true,
      };
      return request<MergeResponse>({
        method: 'POST',
        path: `trees/${encodeURIComponent(refPathElement(targetBranch, expectedHash))}/history/transplant`,
        body,
        read: false,
      });
    },

    commitLog(ref, opts = {}) {
      const query: Array<[string, string | undefined]> = [
        ['limit-hash', opts.limitHash],
        ['max-records', opts.maxRecords?.toString()],
        ['fetch', opts.fetch],
        ['filter', opts.filter],
      ];
      return pages({ method: 'GET', path: `trees/${encodeRef(ref)}/history`, query, read: true }, (page) =>
        ((page.logEntries ?? []) as Array<Record<string, unknown>>).map(decodeLogEntry),
      );
    },

    async diff(fromRef, toRef, opts = {}) {
      const query: Array<[string, string | undefined]> = [
        ['prefix-key', opts.prefixKey && (await keyPath(opts.prefixKey))],
      ];
      for (const key of opts.keys ?? []) query.push(['key', await keyPath(key)]);
      return collect(
        pages(
          { method: 'GET', path: `trees/${encodeRef(fromRef)}/diff/${encodeRef(toRef)}`, query, read: true },
          (page) =>
            ((page.diffs ?? []) as Array<Record<string, unknown>>).map((raw) => {
              const entry: DiffEntry = { key: raw.key as ContentKey };
              const from = raw.from ? decodeContent(raw.from) : undefined;
              const to = raw.to ? decodeContent(raw.to) : undefined;
              if (from) entry.from = from;
              if (to) entry.to = to;
              return entry;
            }),
        ),
      );
    },
  };
  return client;
}
