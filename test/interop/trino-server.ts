/**
 * A single-node Trino for `npm run test:interop`, reading floe's tables through its Iceberg connector with the Nessie
 * catalog (`iceberg.catalog.type=nessie`, Nessie REST API v2): the catalog `floe` with its native local file system
 * (`file:` locations, which is what floe's local warehouse writes), and any further catalogs given as properties files —
 * such as the bi component's, whose native S3 file system reads an `s3://` warehouse.
 *
 * Trino comes from Maven Central as `io.trino:trino-server-core` (a tar.gz: the server's lib/ and a few plugins) plus
 * the `io.trino:trino-iceberg` plugin zip — about 185 MiB + 315 MiB, a third less than the full trino-server tarball
 * with every connector. They are fetched with `mvn dependency:copy` into a Maven repository inside the entry being
 * built (so ~/.m2 does not keep a second half-gigabyte copy), unpacked, and the archives dropped:
 * `${FLOE_INTEROP_CACHE:-~/.cache/floe/interop}/trino-<version>/{lib,plugin/iceberg}`, built under a temporary name
 * and renamed into place when complete (the engines cache's rule), so a warm run downloads nothing.
 *
 * Trino 476 is the newest version Maven Central serves both archives of here; it needs Java 24 or newer (Temurin 25
 * where Debian has only 17): FLOE_TRINO_JAVA_HOME, then JAVA_HOME, the `java` on PATH and /usr/lib/jvm/* are tried.
 *
 * Queries use Trino's client HTTP protocol directly (POST /v1/statement, then follow nextUri); numbers are parsed
 * losslessly and integer columns come back as bigint.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isLosslessNumber, parse } from 'lossless-json';
import { cached, fetchLog } from '../../engines/cache.ts';
import { findJdk } from '../../engines/java.ts';
import { DEPENDENCY_PLUGIN } from '../../engines/maven.ts';
import { freePort, HOST } from '../../engines/ports.ts';
import { run, spawnDetached, stopGroup, waitReady, type Progress } from '../../engines/proc.ts';

export const TRINO_VERSION = '476';
/** Trino 476 refuses to start on anything older (TrinoSystemRequirements: "Trino requires Java 24.0.1 at minimum"). */
export const TRINO_MIN_JAVA = 24;
/** The catalog name floe's tables appear under in Trino. */
export const CATALOG = 'floe';

/** The environment under which engines/cache.ts keeps its entries in the interop cache (FLOE_INTEROP_CACHE). */
export function cacheEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    FLOE_ENGINES_CACHE: env.FLOE_INTEROP_CACHE || path.join(os.homedir(), '.cache', 'floe', 'interop'),
  };
}

/** The cached Trino installation (`lib/`, `plugin/iceberg/`), fetched and unpacked on first use. */
export async function fetchTrino(
  options: { env?: NodeJS.ProcessEnv; progress: Progress },
  version = TRINO_VERSION,
): Promise<string> {
  const env = cacheEnv(options.env ?? process.env);
  const jdk = findJdk('trino', TRINO_MIN_JAVA, env);
  return cached(
    'trino',
    version,
    async (work) => {
      const log = fetchLog('trino', version, env);
      const repository = path.join(work, 'm2');
      const downloads = path.join(work, 'downloads');
      mkdirSync(downloads, { recursive: true });
      for (const artifact of [
        `io.trino:trino-server-core:${version}:tar.gz`,
        `io.trino:trino-iceberg:${version}:zip`,
      ]) {
        options.progress(`trino ${version}: fetching ${artifact} from Maven Central`);
        await run(
          'mvn',
          [
            '-B',
            '-Dstyle.color=never',
            `-Dmaven.repo.local=${repository}`,
            `${DEPENDENCY_PLUGIN}:copy`,
            `-Dartifact=${artifact}`,
            `-DoutputDirectory=${downloads}`,
          ],
          { cwd: work, log, progress: options.progress, label: `${artifact}: Maven`, counting: /Downloaded from / },
        );
      }
      options.progress(`trino ${version}: unpacking`);
      // Only the server's lib/: the core tarball's other plugins (exchange, geospatial, python functions…) would
      // each be loaded at every start and are not used here.
      await run(
        'tar',
        [
          '-xzf',
          path.join(downloads, `trino-server-core-${version}.tar.gz`),
          '-C',
          work,
          '--strip-components=1',
          `trino-server-core-${version}/lib`,
        ],
        { log },
      );
      const plugins = path.join(work, 'plugin');
      mkdirSync(plugins, { recursive: true });
      // The JDK's `jar` unpacks the zip: no unzip needed beyond the JDK Trino runs on.
      await run(path.join(jdk.home, 'bin', 'jar'), ['-xf', path.join(downloads, `trino-iceberg-${version}.zip`)], {
        cwd: plugins,
        log,
      });
      renameSync(path.join(plugins, `trino-iceberg-${version}`), path.join(plugins, 'iceberg'));
      rmSync(downloads, { recursive: true, force: true });
      rmSync(repository, { recursive: true, force: true });
      const jars = readdirSync(path.join(work, 'lib')).length + readdirSync(path.join(plugins, 'iceberg')).length;
      options.progress(`trino ${version}: ${jars} jars unpacked`);
    },
    { env, progress: options.progress },
  );
}

export interface TrinoColumn {
  name: string;
  type: string;
}

export interface TrinoResult {
  columns: TrinoColumn[];
  rows: unknown[][];
}

export interface RunningTrino {
  url: string;
  version: string;
  javaMajor: number;
  log: string;
  /** Milliseconds from spawning the JVM to /v1/info reporting starting=false. */
  startupMs: number;
  /** One statement with `catalog` (default `floe`) and schema `production` as the session's defaults. */
  query(sql: string, catalog?: string): Promise<TrinoResult>;
  stop(): Promise<void>;
}

export interface TrinoOptions {
  /** The Nessie REST API v2 base, e.g. http://127.0.0.1:19120/api/v2. */
  nessieUri: string;
  /** Where new tables would go (`file:///…/`); floe's tables carry their own locations. */
  warehouse: string;
  /**
   * Further catalogs: name → the text of its properties file. Trino resolves `${ENV:NAME}` in it from `env` at start,
   * so a deployment's catalog file (kustomize/components/bi/trino/floe.properties) is used as it is.
   */
  catalogs?: Record<string, string>;
  /** Config, data directory and log of this run. */
  home: string;
  env?: NodeJS.ProcessEnv;
  progress: Progress;
  timeoutMs?: number;
}

/** Starts Trino (coordinator and worker in one JVM, 2 GiB heap) on a free loopback port; resolves once it is ready. */
export async function startTrino(options: TrinoOptions, version = TRINO_VERSION): Promise<RunningTrino> {
  const env = cacheEnv(options.env ?? process.env);
  const jdk = findJdk('trino', TRINO_MIN_JAVA, env);
  const install = await fetchTrino({ env, progress: options.progress }, version);
  const etc = path.join(options.home, 'etc');
  const catalogs = path.join(etc, 'catalog');
  mkdirSync(catalogs, { recursive: true });
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  const properties = (entries: Record<string, string | number | boolean>) =>
    Object.entries(entries)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n') + '\n';
  writeFileSync(
    path.join(etc, 'config.properties'),
    properties({
      coordinator: true,
      'node-scheduler.include-coordinator': true,
      'http-server.http.port': port,
      'discovery.uri': url,
      'plugin.dir': path.join(install, 'plugin'),
      'catalog.config-dir': catalogs,
      // A modest heap: the test's queries aggregate a few thousand rows.
      'query.max-memory': '1GB',
      'query.max-memory-per-node': '512MB',
    }),
  );
  writeFileSync(
    path.join(catalogs, `${CATALOG}.properties`),
    properties({
      'connector.name': 'iceberg',
      'iceberg.catalog.type': 'nessie',
      'iceberg.nessie-catalog.uri': options.nessieUri,
      'iceberg.nessie-catalog.ref': 'main',
      'iceberg.nessie-catalog.default-warehouse-dir': options.warehouse,
      // floe's local warehouse writes file:/// locations; the native local file system serves them under this root.
      'fs.native-local.enabled': true,
      'local.location': '/',
    }),
  );
  for (const [name, text] of Object.entries(options.catalogs ?? {})) {
    if (name === CATALOG) throw new Error(`catalog ${CATALOG} is the local one startTrino writes; name it otherwise`);
    writeFileSync(path.join(catalogs, `${name}.properties`), text);
  }
  const log = path.join(options.home, 'trino.log');
  const jvm = [
    '-Xmx2G',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    // Trino sizes its objects with an agent it attaches to itself; Java 21+ warns unless dynamic agents are allowed.
    '-Djdk.attach.allowAttachSelf=true',
    '-XX:+EnableDynamicAgentLoading',
    '--enable-native-access=ALL-UNNAMED',
    '-Dfile.encoding=UTF-8',
    `-Dconfig=${path.join(etc, 'config.properties')}`,
    '-Dnode.environment=floe',
    `-Dnode.id=floe-interop-${process.pid}`,
    `-Dnode.data-dir=${path.join(options.home, 'data')}`,
    `-Dnode.bind-ip=${HOST}`,
    `-Dnode.internal-address=${HOST}`,
    '-cp',
    path.join(install, 'lib', '*'),
    'io.trino.server.TrinoServer',
  ];
  options.progress(`trino ${version}: starting on ${url} (Java ${jdk.major} at ${jdk.home})`);
  const started = Date.now();
  const spawned = spawnDetached(jdk.java, jvm, {
    cwd: options.home,
    env: { ...env, JAVA_HOME: jdk.home },
    log,
  });
  const stop = async () => {
    await stopGroup(spawned.pid);
  };
  try {
    await waitReady(
      'trino',
      async () => {
        const response = await fetch(`${url}/v1/info`);
        if (!response.ok) return false;
        const info = (await response.json()) as { starting?: boolean };
        return info.starting === false;
      },
      { timeoutMs: options.timeoutMs ?? 300_000, spawned, log, progress: everyHalfMinute(options.progress) },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const startupMs = Date.now() - started;
  options.progress(`trino ${version}: ready in ${(startupMs / 1000).toFixed(1)}s`);
  return {
    url,
    version,
    javaMajor: jdk.major,
    log,
    startupMs,
    query: (sql, catalog) => trinoQuery(url, sql, catalog),
    stop,
  };
}

/** The readiness wait notes every 5 s; a JVM that takes a minute or two to start needs fewer lines. */
function everyHalfMinute(progress: Progress): Progress {
  let last = Date.now();
  return (message) => {
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    progress(message);
  };
}

interface StatementResponse {
  id: string;
  nextUri?: string;
  columns?: { name: string; type: string }[];
  data?: unknown[][];
  error?: { message: string; errorName?: string; errorType?: string };
}

/**
 * Runs one statement over Trino's client protocol, in `catalog` (default `floe`), schema `production`, session time
 * zone UTC (so date_trunc('day', …) cuts days in UTC as floe does).
 */
export async function trinoQuery(url: string, sql: string, catalog = CATALOG): Promise<TrinoResult> {
  const headers = {
    'X-Trino-User': 'floe',
    'X-Trino-Source': 'floe-interop',
    'X-Trino-Catalog': catalog,
    'X-Trino-Schema': 'production',
    'X-Trino-Time-Zone': 'UTC',
    // Without it Trino rounds every timestamp to milliseconds for the sake of old clients; floe writes microseconds.
    'X-Trino-Client-Capabilities': 'PARAMETRIC_DATETIME',
  };
  let response = await fetch(`${url}/v1/statement`, { method: 'POST', headers, body: sql });
  let columns: TrinoColumn[] | undefined;
  const rows: unknown[][] = [];
  while (true) {
    const text = await response.text();
    if (!response.ok) throw new Error(`Trino answered ${response.status} to ${sql}: ${text.slice(0, 500)}`);
    // Every number stays its text until its column's type says what it is.
    const body = parse(text) as unknown as StatementResponse;
    if (body.error)
      throw new Error(
        `Trino: ${body.error.errorName ?? body.error.errorType ?? 'error'}: ${body.error.message}\n${sql}`,
      );
    if (body.columns) columns ??= body.columns.map((c) => ({ name: c.name, type: c.type }));
    for (const row of body.data ?? []) rows.push(row.map((value, i) => typed(value, columns?.[i]?.type ?? '')));
    if (!body.nextUri) break;
    response = await fetch(body.nextUri, { headers });
  }
  return { columns: columns ?? [], rows };
}

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'bigint']);

/** Integers as bigint, floating point as number, decimals as their exact text; inside rows/arrays/maps the same by value. */
function typed(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  if (isLosslessNumber(value)) {
    const text = value.toString();
    if (INTEGER_TYPES.has(type)) return BigInt(text);
    if (type.startsWith('decimal')) return text;
    if (type === 'double' || type === 'real') return Number(text);
    return /^-?\d+$/.test(text) ? BigInt(text) : Number(text);
  }
  if (Array.isArray(value)) return value.map((v) => typed(v, ''));
  if (typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, typed(v, '')]));
  return value;
}
