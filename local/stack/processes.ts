/**
 * The functions of the local stack, each in its own Node process on its own port: from the TypeScript sources
 * (`functions/main.ts` through tsx) or from a bundle of `npm run build` (`<dir>/<function>.mjs`, run as the image runs
 * it). Their JSON logs go to `<home>/logs/<name>.log`, each start preceded by a line naming the entry it ran; warnings
 * and errors are also passed to the stack's logger. A process can be killed (SIGKILL, a crash) and restarted on the
 * same port.
 *
 * Supervision as Kubernetes restarts a container: a process that exits without being asked to (a crash, an OOM kill,
 * a SIGKILL from outside) is started again on its port after a backoff that doubles from 0.5 s up to 30 s and starts
 * over once a process stayed up for a minute. Each process holds the read end of a pipe on its stdin and exits when
 * it closes (FLOE_EXIT_WITH_PARENT, `functions/serve.ts`): the kernel closes it when the stack dies, even by SIGKILL,
 * so no function outlives its stack holding its port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/runtime/logger.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'functions', 'main.ts');

/** The file a function process runs: the shared source entry, or the function's own bundle in `bundles`. */
export function functionEntry(fn: string, bundles?: string): string {
  return bundles === undefined ? ENTRY : path.resolve(bundles, `${fn}.mjs`);
}

/** Fails before anything starts when a bundle the stack would run is not there. */
export function checkBundles(functions: readonly string[], bundles: string): void {
  const missing = functions.map((fn) => functionEntry(fn, bundles)).filter((file) => !existsSync(file));
  if (missing.length) {
    throw new Error(
      `missing function bundle ${missing.join(', ')}: run \`npm run build\` first (it writes dist/functions/; \`npm run build -- --out DIR\` writes DIR)`,
    );
  }
}

/** A free TCP port on loopback (the OS picks; the port is released before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Function processes run in their own process group so that a terminal's Ctrl-C (SIGINT to the whole foreground
 * group) reaches only the stack, which drains in-flight batches before it stops them with SIGTERM. Being outside the
 * group, they would outlive a stack that exits without stopping them; this hook kills whatever is still running.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface FunctionProcess {
  name: string;
  /** The file the process runs (`functions/main.ts` or a bundle). */
  entry: string;
  url: string;
  port: number;
  pid(): number | undefined;
  /** Resolves when `/health/readiness` answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM (graceful: in-flight batches drain) and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Starts the process again on the same port. */
  restart(): Promise<void>;
  /** Set when the process exits without being asked to. */
  onUnexpectedExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** How many times supervision restarted the process after it exited unexpectedly. */
  restarts(): number;
}

export interface SupervisionOptions {
  /** Backoff before the first restart; doubles per restart. Default 500 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** A process that stayed up this long restarts after the initial backoff again. Default 60 s. */
  resetAfterMs?: number;
}

export interface FunctionProcessOptions {
  name: string;
  port: number;
  env: NodeJS.ProcessEnv;
  logDir: string;
  logger: Logger;
  /** Run this file instead of `functions/main.ts`: a bundle (`.mjs`) runs without tsx, as in the image. */
  entry?: string;
  /** Restart the process when it exits unexpectedly (default on; `false`: leave it down). */
  supervise?: SupervisionOptions | false;
}

export function functionProcess(options: FunctionProcessOptions): FunctionProcess {
  const { name, port, logger } = options;
  const entry = options.entry ?? ENTRY;
  const url = `http://127.0.0.1:${port}`;
  mkdirSync(options.logDir, { recursive: true });
  let child: ChildProcess | undefined;
  let log: WriteStream | undefined;
  let expectedExit = false;
  let restarts = 0;
  const supervision =
    options.supervise === false
      ? undefined
      : {
          initialBackoffMs: 500,
          maxBackoffMs: 30_000,
          resetAfterMs: 60_000,
          ...options.supervise,
        };
  let backoffMs = supervision?.initialBackoffMs ?? 0;
  let startedAt = 0;
  let pendingRestart: NodeJS.Timeout | undefined;

  const cancelRestart = () => {
    if (pendingRestart) clearTimeout(pendingRestart);
    pendingRestart = undefined;
  };

  const supervise = (code: number | null, signal: NodeJS.Signals | null) => {
    if (!supervision || pendingRestart) return;
    if (Date.now() - startedAt >= supervision.resetAfterMs) backoffMs = supervision.initialBackoffMs;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, supervision.maxBackoffMs);
    logger.warn(
      { function: name, code, signal, restarts: restarts + 1, backoffMs: delay },
      `restarting ${name} in ${delay} ms (restart ${restarts + 1})`,
    );
    pendingRestart = setTimeout(() => {
      pendingRestart = undefined;
      if (expectedExit) return;
      restarts++;
      start();
    }, delay);
    // A pending restart must not keep a stack that is exiting alive.
    pendingRestart.unref();
  };

  const start = () => {
    expectedExit = false;
    startedAt = Date.now();
    log = createWriteStream(path.join(options.logDir, `${name}.log`), { flags: 'a' });
    // FLOE_NODE_ARGS passes extra Node flags to every function process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`).
    const nodeArgs = (process.env.FLOE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    // The Dockerfile's ENTRYPOINT runs bundles with source maps on, so stack traces name the sources.
    const args = [...nodeArgs, ...(entry.endsWith('.ts') ? ['--import', 'tsx'] : ['--enable-source-maps']), entry];
    child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        ...options.env,
        FLOE_FUNCTION: name,
        PORT: String(port),
        FLOE_LOG_FORMAT: 'json',
        FLOE_EXIT_WITH_PARENT: '1',
      },
      // stdin: the pipe whose end tells the function that the stack is gone (see the header).
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    // Which code a run exercised (the sources or a bundle, and which build) is a question its log must answer.
    log.write(
      `${JSON.stringify({ level: 'info', time: Date.now(), pid: child.pid, name: 'floe-stack', function: name, entry, msg: `started node ${args.join(' ')}` })}\n`,
    );
    const current = child;
    running.add(current);
    // Nothing is written to it; an error on it (the process died) is the exit handler's business.
    current.stdin?.on('error', () => undefined);
    const sink = log;
    for (const stream of [current.stdout!, current.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        sink.write(`${line}\n`);
        forward(line);
      });
    }
    current.on('exit', (code, signal) => {
      running.delete(current);
      sink.end();
      if (!expectedExit) {
        logger.warn({ function: name, code, signal }, `${name} exited unexpectedly`);
        result.onUnexpectedExit?.(code, signal);
        supervise(code, signal);
      }
    });
  };

  /** Passes a child's warnings and errors on, readable; everything stays in its log file. */
  const forward = (line: string) => {
    let entry: { level?: string; msg?: string; err?: { message?: string } } | undefined;
    try {
      entry = JSON.parse(line);
    } catch {
      if (line.trim()) logger.warn({ function: name }, line);
      return;
    }
    if (entry?.level === 'warn' || entry?.level === 'error' || entry?.level === 'fatal') {
      logger[entry.level === 'warn' ? 'warn' : 'error'](
        { function: name, ...(entry.err?.message ? { error: entry.err.message } : {}) },
        `${name}: ${entry.msg ?? ''}`,
      );
    }
  };

  const exited = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
    });

  const result: FunctionProcess = {
    name,
    entry,
    url,
    port,
    pid: () => child?.pid,
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child && child.exitCode !== null)
          throw new Error(
            `${name} exited with code ${child.exitCode} before it was ready (see ${path.join(options.logDir, `${name}.log`)})`,
          );
        try {
          const response = await fetch(`${url}/health/readiness`, { signal: AbortSignal.timeout(1000) });
          if (response.ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${name} was not ready within ${timeoutMs} ms`);
    },
    async stop() {
      expectedExit = true;
      cancelRestart();
      child?.kill('SIGTERM');
      await exited();
    },
    async kill() {
      expectedExit = true;
      cancelRestart();
      child?.kill('SIGKILL');
      await exited();
    },
    async restart() {
      await result.stop();
      start();
      await result.ready();
    },
    restarts: () => restarts,
  };
  start();
  return result;
}
