/**
 * The layers point one way (README, Development): functions and the dashboard → shared → iceberg → storage. A wrong
 * import compiles and runs, so only a check of the import graph keeps the layout honest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.(ts|js|mjs)$/.test(file))
    .map((file) => path.join(dir, file));
}

/** Every relative import of a file, as a repository path. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    found.push(path.normalize(path.join(path.dirname(file), match[1])));
  }
  return found;
}

function violations(dir: string, forbidden: (target: string, file: string) => boolean): string[] {
  return sources(dir).flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden(target, file))
      .map((target) => `${file} → ${target}`),
  );
}

const under = (target: string, ...dirs: string[]) => dirs.some((dir) => target.startsWith(`${dir}/`));

describe('layers', () => {
  it('shared/ imports no function, dashboard, stand-in, CLI or test code', () => {
    expect(violations('shared', (t) => under(t, 'functions', 'dashboard', 'local', 'cli', 'test', 'bench'))).toEqual(
      [],
    );
  });

  it('a function imports no other function and no stand-in', () => {
    const folderOf = (file: string) => file.split(path.sep).slice(0, 2).join('/');
    const inFunction = (file: string) => file.split(path.sep).length > 2;
    const found = violations(
      'functions',
      (t, file) =>
        inFunction(file) &&
        (under(t, 'local', 'dashboard', 'cli') || (/^functions\/[^/]+\//.test(t) && folderOf(t) !== folderOf(file))),
    );
    expect(found).toEqual([]);
  });

  it('the dashboard imports no function and no stand-in', () => {
    expect(violations('dashboard', (t) => under(t, 'functions', 'local'))).toEqual([]);
  });

  it('the Iceberg library knows no catalog, events, pipeline or runtime; storage knows no format', () => {
    expect(violations('shared/iceberg', (t) => !under(t, 'shared/iceberg', 'shared/storage', 'shared/util'))).toEqual(
      [],
    );
    expect(violations('shared/storage', (t) => !under(t, 'shared/storage', 'shared/util'))).toEqual([]);
  });

  it('no two source files of shared/ share a name unless they are the same kind of thing in parallel folders', () => {
    const parallel = new Set(['index.ts', 'types.ts']);
    const byName = new Map<string, string[]>();
    for (const file of sources('shared'))
      byName.set(path.basename(file), [...(byName.get(path.basename(file)) ?? []), file]);
    expect([...byName].filter(([name, files]) => files.length > 1 && !parallel.has(name))).toEqual([]);
  });

  it('no handler of a function lives in shared/', () => {
    expect(sources('shared').filter((file) => file.endsWith('-function.ts'))).toEqual([]);
  });
});
