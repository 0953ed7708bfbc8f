/**
 * Apache Superset for `npm run test:interop`, from PyPI (test/interop/superset-requirements.txt) in its own virtualenv:
 * Superset pins old sqlalchemy, pandas and pyarrow that must not meet PyIceberg's. The virtualenv is built once into
 * `${FLOE_INTEROP_CACHE:-~/.cache/floe/interop}/superset-venv-<hash of the requirements>` (engines/cache.ts: built
 * under a temporary name, renamed into place when complete), so a warm run installs nothing.
 *
 * `superset db upgrade` and `superset init` make a metadata database (SQLite) once per virtualenv, cached beside it
 * as `superset-metadata-<hash>`. Each start gets a fresh home: a generated superset_config.py (a random SECRET_KEY, a
 * copy of that database, CSRF protection on as in a deployment), `superset fab create-admin` with a random password,
 * then `superset run` on a free loopback port in its own process group, ready once /health answers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cached, fetchLog } from '../../engines/cache.ts';
import { freePort, HOST } from '../../engines/ports.ts';
import { run, spawnDetached, stopGroup, waitReady, type Progress } from '../../engines/proc.ts';
import { cacheEnv } from './trino-server.ts';

const REQUIREMENTS = fileURLToPath(new URL('./superset-requirements.txt', import.meta.url));

/** The virtualenv with Superset and the Trino dialect; its interpreter is `<dir>/bin/python`. */
export async function supersetVenv(options: { env?: NodeJS.ProcessEnv; progress: Progress }): Promise<string> {
  const env = cacheEnv(options.env ?? process.env);
  const hash = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 12);
  const python = env.FLOE_SUPERSET_PYTHON || env.FLOE_PYTHON || 'python3';
  return cached(
    'superset-venv',
    hash,
    async (work) => {
      const log = fetchLog('superset-venv', hash, env);
      options.progress(`superset: creating a virtualenv with ${python} (Superset needs Python 3.10 to 3.12)`);
      await run(python, ['-m', 'venv', work], { log });
      // `bin/python -m pip`, not `bin/pip`: the venv is renamed when complete, and scripts keep the old path in their shebang.
      await run(
        path.join(work, 'bin', 'python'),
        ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS],
        {
          log,
          progress: options.progress,
          label: 'pip install -r test/interop/superset-requirements.txt',
          counting: /^\s*(Downloading|Using cached) /,
        },
      );
    },
    { env, progress: options.progress },
  );
}

export interface RunningSuperset {
  url: string;
  username: string;
  password: string;
  /** The virtualenv's interpreter (it has PyYAML, which the dashboard's import script needs). */
  python: string;
  log: string;
  /** Milliseconds to a ready metadata database (template made or copied, admin created), and from spawning the server to /health. */
  initMs: number;
  startupMs: number;
  stop(): Promise<void>;
}

export interface SupersetOptions {
  /** Config, metadata database and log of this run. */
  home: string;
  env?: NodeJS.ProcessEnv;
  progress: Progress;
  timeoutMs?: number;
}

/** Superset's CLI through the interpreter: `bin/superset`'s shebang names the path the venv was built under. */
const CLI = [
  '-c',
  'import sys; from superset.cli.main import superset; sys.argv[0] = "superset"; sys.exit(superset())',
];

/** The environment of a Superset command: a generated superset_config.py with the SQLite metadata database `db`. */
function supersetEnv(home: string, db: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  const config = path.join(home, 'superset_config.py');
  writeFileSync(
    config,
    [
      `SECRET_KEY = ${JSON.stringify(randomBytes(32).toString('hex'))}`,
      `SQLALCHEMY_DATABASE_URI = ${JSON.stringify(`sqlite:///${db}`)}`,
      // As deployed: the import script must get past CSRF protection with a token of its session.
      'WTF_CSRF_ENABLED = True',
      // Plain HTTP on loopback; Talisman's HTTPS and CSP policy are a deployment's concern, not this test's.
      'TALISMAN_ENABLED = False',
      // A test logs in a few times from one address; the in-memory limiter would only warn about its storage.
      'RATELIMIT_ENABLED = False',
      '',
    ].join('\n'),
  );
  return {
    ...base,
    SUPERSET_CONFIG_PATH: config,
    SUPERSET_HOME: path.join(home, 'home'),
    FLASK_APP: 'superset',
    PYTHONUNBUFFERED: '1',
  };
}

async function supersetCommand(
  python: string,
  label: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; log: string; cwd: string; progress: Progress },
): Promise<void> {
  options.progress(`superset: ${label}`);
  await run(python, [...CLI, ...args], { ...options, label, everyMs: 15_000 });
}

/**
 * The metadata database as `superset db upgrade` and `superset init` leave it (about 100 migrations, then roles and
 * permissions: a minute or more of a busy machine), made once per virtualenv and copied by every start. Nothing in
 * it is encrypted with the SECRET_KEY it was made under: it holds no database connection yet.
 */
async function metadataTemplate(venv: string, options: SupersetOptions): Promise<string> {
  const env = cacheEnv(options.env ?? process.env);
  const python = path.join(venv, 'bin', 'python');
  const version = path.basename(venv).replace(/^superset-venv-/, '');
  return cached(
    'superset-metadata',
    version,
    async (work) => {
      const log = fetchLog('superset-metadata', version, env);
      const commandEnv = supersetEnv(
        path.join(work, 'config'),
        path.join(work, 'superset.db'),
        options.env ?? process.env,
      );
      const step = { env: commandEnv, log, cwd: work, progress: options.progress };
      await supersetCommand(python, 'db upgrade', ['db', 'upgrade'], step);
      await supersetCommand(python, 'init', ['init'], step);
      rmSync(path.join(work, 'config'), { recursive: true, force: true });
    },
    { env, progress: options.progress },
  );
}

/**
 * Starts Superset on a free loopback port with a fresh metadata database (a copy of the upgraded and initialised
 * template) and a new admin with a random password; resolves once it is healthy.
 */
export async function startSuperset(options: SupersetOptions): Promise<RunningSuperset> {
  const venv = await supersetVenv(options);
  const python = path.join(venv, 'bin', 'python');
  const initStarted = Date.now();
  const template = await metadataTemplate(venv, options);
  mkdirSync(options.home, { recursive: true });
  const db = path.join(options.home, 'superset.db');
  copyFileSync(path.join(template, 'superset.db'), db);
  const env = supersetEnv(options.home, db, options.env ?? process.env);
  const log = path.join(options.home, 'superset.log');
  const username = 'admin';
  const password = randomBytes(12).toString('hex');
  await supersetCommand(
    python,
    'fab create-admin',
    [
      'fab',
      'create-admin',
      '--username',
      username,
      '--firstname',
      'floe',
      '--lastname',
      'interop',
      '--email',
      'admin@floe.invalid',
      '--password',
      password,
    ],
    { env, log, cwd: options.home, progress: options.progress },
  );
  const initMs = Date.now() - initStarted;
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  options.progress(`superset: initialised in ${(initMs / 1000).toFixed(1)}s, starting on ${url}`);
  const started = Date.now();
  const spawned = spawnDetached(python, [...CLI, 'run', '--host', HOST, '--port', String(port), '--with-threads'], {
    cwd: options.home,
    env,
    log,
  });
  const stop = async () => {
    await stopGroup(spawned.pid);
  };
  try {
    await waitReady(
      'superset',
      async () => {
        const response = await fetch(`${url}/health`);
        return response.ok && (await response.text()).trim() === 'OK';
      },
      { timeoutMs: options.timeoutMs ?? 180_000, spawned, log, progress: options.progress },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const startupMs = Date.now() - started;
  options.progress(`superset: ready in ${(startupMs / 1000).toFixed(1)}s`);
  return { url, username, password, python, log, initMs, startupMs, stop };
}
