/**
 * The engine cache, outside the repository: `${FLOE_ENGINES_CACHE:-~/.cache/floe/engines}/<engine>-<version>/`.
 * An entry is built in a private temporary directory and renamed into place with its completion marker already
 * inside, so a half-done download (interrupted, failed, or raced by a second start) is never taken for a complete
 * one, and a second run downloads nothing.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Progress } from './proc.ts';

export const MARKER = '.complete.json';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.FLOE_ENGINES_CACHE || path.join(os.homedir(), '.cache', 'floe', 'engines'));
}

export function entryDir(engine: string, version: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), `${engine}-${version}`);
}

/** Where the tools that fetch an entry write their output; kept after a failure. */
export function fetchLog(engine: string, version: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${entryDir(engine, version, env)}.fetch.log`;
}

export function isComplete(dir: string): boolean {
  return existsSync(path.join(dir, MARKER));
}

/**
 * The cache entry of `engine` at `version`, built by `fill(dir)` when it is not complete yet. `fill` writes into a
 * fresh directory; whatever it leaves there becomes the entry. A failed fill leaves nothing behind but its tool's log,
 * `fetchLog(engine, version)`, beside the entry.
 */
export async function cached(
  engine: string,
  version: string,
  fill: (dir: string) => Promise<void>,
  options: { env?: NodeJS.ProcessEnv; progress?: Progress; quietWhenCached?: boolean } = {},
): Promise<string> {
  const dir = entryDir(engine, version, options.env);
  if (isComplete(dir)) {
    if (!options.quietWhenCached) options.progress?.(`${engine} ${version}: cached in ${dir}`);
    return dir;
  }
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = `${dir}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(work, { recursive: true });
  const started = Date.now();
  options.progress?.(`${engine} ${version}: not cached, fetching into ${dir}`);
  try {
    await fill(work);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(
    path.join(work, MARKER),
    JSON.stringify({ engine, version, completedAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000 }) +
      '\n',
  );
  if (existsSync(dir)) {
    if (isComplete(dir)) {
      // Another start completed the same entry meanwhile; keep that one.
      rmSync(work, { recursive: true, force: true });
      return dir;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  renameSync(work, dir);
  options.progress?.(`${engine} ${version}: fetched in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return dir;
}

/** Bytes under `dir` (files only, links not followed). */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (p: string) => {
    const stat = lstatSync(p);
    if (stat.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
    else if (stat.isFile()) total += stat.size;
  };
  if (existsSync(dir)) walk(dir);
  return total;
}

/** What the cache holds: one line per complete entry with its size. */
export function listCache(env: NodeJS.ProcessEnv = process.env): { name: string; bytes: number; complete: boolean }[] {
  const root = cacheRoot(env);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => !name.includes('.partial-') && !name.endsWith('.log'))
    .map((name) => ({ name, bytes: diskUsage(path.join(root, name)), complete: isComplete(path.join(root, name)) }));
}

export function readMarker(dir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, MARKER), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
