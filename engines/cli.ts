/**
 * `npm run engines -- start|stop|status|check`: the real engines (Apache Kafka, Nessie, an S3 server) on free loopback
 * ports for tests. Progress goes to stderr, results to stdout, so `eval "$(npm run -s engines -- start --env)"` works.
 */
import { parseArgs } from 'node:util';
import { cacheRoot, listCache } from './cache.ts';
import {
  aliveEngines,
  ENGINE_NAMES,
  enginesHome,
  orderedEnv,
  readState,
  startEngines,
  stopEngines,
  type EngineName,
} from './index.ts';
import { groupRssKiB } from './proc.ts';
import { selfcheck } from './selfcheck.ts';

const HELP = `Usage: npm run engines -- <command> [options]

Fetches, caches and runs the real engines floe is tested against, on free ports of 127.0.0.1:
  kafka    Apache Kafka (KRaft, one node) from the Maven Central jars, on Java 17+
  nessie   the Nessie server (Quarkus runner jar from Maven Central) on Java 21+, in-memory store, Iceberg REST
           endpoint with a warehouse on the S3 server
  s3       moto's S3 server (PyPI, own virtualenv), bucket "floe"

Commands:
  start    fetch what is not cached, start the engines, wait until each answers, print the env to use
  stop     stop the engines recorded in the state file (SIGTERM to each process group, SIGKILL after 15 s)
  status   the state file, whether each engine is alive, its resident memory, and the cache (exit 3: none started)
  check    exercise the running engines: S3 conditional PUT (412 on the second If-None-Match: *), Kafka create
           topic / produce / consume with kafkajs, Nessie config and Iceberg REST config

Options:
  --only LIST     start only these engines, comma-separated (${ENGINE_NAMES.join(',')}); default all
  --env           start/status: print only "export NAME=value" lines, for eval
  --json          status/start: print JSON
  --timeout SECS  readiness timeout per engine (default 120)
  -h, --help      this help

Environment:
  FLOE_ENGINES_CACHE     cache of downloads (default ~/.cache/floe/engines); a complete entry is reused as is
  FLOE_ENGINES_HOME      config, data, logs and state.json of the running engines (default .floe/engines)
  FLOE_NESSIE_JAR        run this nessie-quarkus runner jar instead of fetching one
  FLOE_KAFKA_JAVA_HOME, FLOE_NESSIE_JAVA_HOME   the JDK for an engine (default: JAVA_HOME, java on PATH, then the
                         JDKs in the system JVM directory; the first new enough)
  FLOE_PYTHON            the Python that builds moto's virtualenv (default python3)

Examples:
  npm run engines -- start
  eval "$(npm run -s engines -- start --only kafka,s3 --env)"
  npm run engines -- status --json
  npm run engines -- stop`;

// The SDK's notice that later releases need Node 22 would precede every run's output; the engines' own lines matter here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A reader that goes away early (`| head`) is no error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const progress = (message: string) => process.stderr.write(`[engines] ${message}\n`);
const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

function printEnv(env: Record<string, string>, exportLines: boolean): void {
  for (const [k, v] of orderedEnv(env)) console.log(exportLines ? `export ${k}=${quote(v)}` : `${k}=${v}`);
}

function parseOnly(value: string | undefined): EngineName[] | undefined {
  if (!value) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(ENGINE_NAMES as readonly string[]).includes(n));
  if (unknown.length) throw new UsageError(`unknown engine ${unknown.join(', ')} (known: ${ENGINE_NAMES.join(', ')})`);
  return names as EngineName[];
}

class UsageError extends Error {}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function start(values: Record<string, string | boolean | undefined>): Promise<number> {
  const home = enginesHome();
  const existing = readState(home);
  const alive = existing ? aliveEngines(existing) : [];
  if (existing && alive.length) {
    const dead = Object.keys(existing.engines).filter((name) => !alive.includes(name as EngineName));
    if (dead.length) {
      console.error(
        `${dead.join(', ')} of the engines in ${home}/state.json died (logs in ${home}/logs); run \`stop\`, then \`start\` again`,
      );
      return 1;
    }
    progress(`already running (${alive.join(', ')}), state in ${home}/state.json; \`stop\` first to restart`);
    if (values.json) console.log(JSON.stringify(existing, null, 2));
    else printEnv(existing.env, Boolean(values.env));
    return 0;
  }
  const timeout = values.timeout === undefined ? 120 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new UsageError(`--timeout must be a positive number of seconds, not ${String(values.timeout)}`);
  const interrupted = async (signal: string) => {
    progress(`${signal}: stopping what was started`);
    await stopEngines(home, progress);
    process.exit(130);
  };
  const onInt = () => void interrupted('SIGINT');
  const onTerm = () => void interrupted('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const only = parseOnly(values.only as string | undefined);
  const started = Date.now();
  try {
    const engines = await startEngines({ engines: only, home, progress, timeoutMs: timeout * 1000 });
    progress(
      `ready in ${((Date.now() - started) / 1000).toFixed(1)}s; logs in ${home}/logs, state in ${home}/state.json`,
    );
    if (values.json) console.log(JSON.stringify(engines.state, null, 2));
    else printEnv(engines.env, Boolean(values.env));
    return 0;
  } catch (err) {
    progress(`start failed after ${((Date.now() - started) / 1000).toFixed(1)}s; everything it started is stopped`);
    console.error((err as Error).message);
    return 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function status(values: Record<string, string | boolean | undefined>): number {
  const home = enginesHome();
  const state = readState(home);
  const engines = state
    ? Object.fromEntries(
        Object.entries(state.engines).map(([name, e]) => {
          const alive = aliveEngines({ ...state, engines: { [name]: e } }).length > 0;
          return [name, { ...e, alive, rssKiB: alive ? groupRssKiB(e.pid) : undefined }];
        }),
      )
    : {};
  const cache = listCache();
  if (values.json) {
    console.log(
      JSON.stringify(
        { home, running: state ? { ...state, engines } : null, cache: { root: cacheRoot(), entries: cache } },
        null,
        2,
      ),
    );
    return state ? 0 : 3;
  }
  if (values.env) {
    if (state) printEnv(state.env, true);
    return state ? 0 : 3;
  }
  if (!state) console.log(`no engines started from ${home}`);
  else {
    console.log(`engines of ${home} (started ${state.startedAt})`);
    for (const [name, e] of Object.entries(engines)) {
      const ports = Object.entries(e.ports)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      const rss = e.rssKiB === undefined ? '' : `, RSS ${(e.rssKiB / 1024).toFixed(0)} MiB`;
      console.log(
        `  ${name.padEnd(7)} ${(e.alive ? e.status : 'DEAD').padEnd(8)} pid ${e.pid}, ${e.version}, ${ports}${rss}; log ${e.log}`,
      );
    }
    console.log('env:');
    for (const [k, v] of orderedEnv(state.env)) console.log(`  ${k}=${v}`);
  }
  console.log(`cache ${cacheRoot()}:`);
  if (!cache.length) console.log('  (empty)');
  for (const entry of cache)
    console.log(`  ${entry.name.padEnd(16)} ${mib(entry.bytes).padStart(10)}${entry.complete ? '' : '  (incomplete)'}`);
  return state ? 0 : 3;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        only: { type: 'string' },
        env: { type: 'boolean' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  if (rest.length) {
    console.error(`unexpected argument ${rest.join(' ')}\n\n${HELP}`);
    return 2;
  }
  try {
    switch (command) {
      case 'start':
        return await start(values);
      case 'stop': {
        const results = await stopEngines(enginesHome(), progress);
        if (!results.length) progress(`nothing to stop in ${enginesHome()}`);
        return 0;
      }
      case 'status':
        return status(values);
      case 'check': {
        const state = readState(enginesHome());
        if (!state) {
          console.error(`no engines started from ${enginesHome()}: run \`npm run engines -- start\` first`);
          return 1;
        }
        return (await selfcheck(state, (line) => console.log(line))) ? 0 : 1;
      }
      default:
        console.error(`unknown command ${command}\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
