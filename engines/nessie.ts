/**
 * The Nessie server: the Quarkus uber-jar `org.projectnessie.nessie:nessie-quarkus:<v>:jar:runner` from Maven Central,
 * on a JDK new enough for it (the server is built for Java 21). In-memory version store; the Iceberg REST endpoint
 * (`/iceberg`) serves one warehouse on the S3 server, whose credentials Nessie reads through a
 * `urn:nessie-secret:quarkus:` reference (it takes no plain-text keys). `FLOE_NESSIE_JAR` runs a runner jar from disk
 * instead of fetching one.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { cached, fetchLog } from './cache.ts';
import {
  ACCESS_KEY_ID,
  REGION,
  SECRET_ACCESS_KEY,
  untilReady,
  WAREHOUSE,
  type RunningEngine,
  type StartContext,
} from './engine.ts';
import { findJdk } from './java.ts';
import { copyArtifact } from './maven.ts';
import { freePorts, HOST } from './ports.ts';
import { spawnDetached, stopGroup, type Progress } from './proc.ts';

export const NESSIE_VERSION = '0.110.0';
const MIN_JAVA = 21;
const RUNNER = (version: string) => `nessie-quarkus-${version}-runner.jar`;

/** The runner jar: `FLOE_NESSIE_JAR` when set, else the cached download. */
export async function fetchNessie(
  version: string,
  options: { env?: NodeJS.ProcessEnv; progress: Progress; quietWhenCached?: boolean },
): Promise<string> {
  const local = options.env?.FLOE_NESSIE_JAR;
  if (local) {
    if (!options.quietWhenCached) options.progress(`nessie: using FLOE_NESSIE_JAR=${local}`);
    return path.resolve(local);
  }
  const dir = await cached(
    'nessie',
    version,
    async (work) => {
      options.progress(
        `nessie ${version}: fetching org.projectnessie.nessie:nessie-quarkus:${version}:jar:runner with Maven`,
      );
      try {
        await copyArtifact(
          work,
          { groupId: 'org.projectnessie.nessie', artifactId: 'nessie-quarkus', version, classifier: 'runner' },
          {
            log: fetchLog('nessie', version, options.env),
            progress: options.progress,
          },
        );
      } catch (err) {
        throw new Error(
          `${(err as Error).message}\n  (set FLOE_NESSIE_JAR to a nessie-quarkus runner jar to use one from disk, or start without Nessie: --only kafka,s3)`,
        );
      }
    },
    options,
  );
  return path.join(dir, RUNNER(version));
}

export interface NessieOptions {
  /** The S3 server the warehouse lives on. */
  s3Endpoint: string;
}

/** Server settings as system properties (property names as in Nessie's configuration reference). */
function properties(o: { http: number; management: number; s3Endpoint: string }): Record<string, string> {
  const s3 = 'nessie.catalog.service.s3.default-options';
  return {
    'quarkus.http.host': HOST,
    'quarkus.http.port': String(o.http),
    'quarkus.management.host': HOST,
    'quarkus.management.port': String(o.management),
    'nessie.version.store.type': 'IN_MEMORY',
    'nessie.catalog.default-warehouse': 'warehouse',
    'nessie.catalog.warehouses.warehouse.location': WAREHOUSE,
    [`${s3}.endpoint`]: `${o.s3Endpoint}/`,
    [`${s3}.path-style-access`]: 'true',
    [`${s3}.region`]: REGION,
    [`${s3}.auth-type`]: 'STATIC',
    [`${s3}.access-key`]: 'urn:nessie-secret:quarkus:floe-engines.s3',
    'floe-engines.s3.name': ACCESS_KEY_ID,
    'floe-engines.s3.secret': SECRET_ACCESS_KEY,
    // Test runs are short: no usage reporting, no OpenTelemetry exporter looking for a collector.
    'quarkus.otel.sdk.disabled': 'true',
  };
}

export async function startNessie(
  ctx: StartContext,
  options: NessieOptions,
  version = NESSIE_VERSION,
): Promise<RunningEngine> {
  const jdk = findJdk('nessie', MIN_JAVA, ctx.env);
  const jar = await fetchNessie(version, { env: ctx.env, progress: ctx.progress, quietWhenCached: true });
  const label = ctx.env.FLOE_NESSIE_JAR ? path.basename(jar) : version;
  const home = path.join(ctx.home, 'nessie');
  mkdirSync(home, { recursive: true });
  const [http, management] = await freePorts(2);
  const log = path.join(ctx.home, 'logs', 'nessie.log');
  mkdirSync(path.dirname(log), { recursive: true });
  const props = Object.entries(properties({ http, management, s3Endpoint: options.s3Endpoint })).map(
    ([k, v]) => `-D${k}=${v}`,
  );
  ctx.progress(`nessie ${label}: starting on http://${HOST}:${http} (management ${management}, Java ${jdk.major})`);
  const spawned = spawnDetached(jdk.java, ['-Xms128m', '-Xmx768m', ...props, '-jar', jar], {
    cwd: home,
    env: { ...ctx.env, JAVA_HOME: jdk.home },
    log,
  });
  const uri = `http://${HOST}:${http}`;
  const engine: RunningEngine = {
    name: 'nessie',
    version: label,
    pid: spawned.pid,
    ports: { http, management },
    log,
    env: { NESSIE_URI: `${uri}/api`, NESSIE_ICEBERG_URI: `${uri}/iceberg` },
    async stop() {
      await stopGroup(spawned.pid);
    },
  };
  return untilReady(ctx, engine, spawned, () => nessieAnswers(uri));
}

export async function nessieAnswers(uri: string): Promise<boolean> {
  const response = await fetch(`${uri}/api/v2/config`, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.status === 200;
}
