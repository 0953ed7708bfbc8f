/**
 * Reads the repository's Dockerfile far enough to reason about the image without building it (no Docker here): the
 * final stage's ENV, USER, ENTRYPOINT and COPY instructions, and a map from paths inside the image to the files
 * of this checkout they come from, so a test can run the image's entrypoint on the host.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './render.ts';

export const DOCKERFILE = path.join(REPO_ROOT, 'Dockerfile');

export interface ImageCopy {
  /** The stage copied from (`--from=`), undefined for the build context. */
  from: string | undefined;
  sources: string[];
  destination: string;
}

export interface FinalStage {
  /** `FROM <image> AS <name>` */
  base: string;
  env: Record<string, string>;
  user: string | undefined;
  workdir: string | undefined;
  /** The exec form's arguments. */
  entrypoint: string[] | undefined;
  copies: ImageCopy[];
  /** WORKDIR of each earlier stage, by name (where its `COPY . .` put the build context). */
  stageWorkdirs: Record<string, string>;
}

/** Instructions with their line continuations joined and comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const result: { keyword: string; args: string }[] = [];
  for (const line of joined.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const space = trimmed.search(/\s/);
    result.push({ keyword: trimmed.slice(0, space).toUpperCase(), args: trimmed.slice(space + 1).trim() });
  }
  return result;
}

/** `ENV A=1 B="two words"` (the legacy `ENV A 1` form too). */
function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (!/^\S+=/.test(args)) {
    const [name, ...rest] = args.split(/\s+/);
    env[name] = rest.join(' ');
    return env;
  }
  for (const [, name, quoted, bare] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g)) {
    env[name] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare;
  }
  return env;
}

export function parseDockerfile(text: string): FinalStage {
  let stage: FinalStage | undefined;
  let stageName: string | undefined;
  const stageWorkdirs: Record<string, string> = {};
  for (const { keyword, args } of instructions(text)) {
    if (keyword === 'FROM') {
      if (stage && stageName && stage.workdir) stageWorkdirs[stageName] = stage.workdir;
      const [base, as, name] = args.split(/\s+/);
      stageName = as?.toUpperCase() === 'AS' ? name : undefined;
      stage = { base, env: {}, user: undefined, workdir: undefined, entrypoint: undefined, copies: [], stageWorkdirs };
      continue;
    }
    if (!stage) throw new Error(`Dockerfile: ${keyword} before FROM`);
    if (keyword === 'ENV') Object.assign(stage.env, parseEnv(args));
    else if (keyword === 'USER') stage.user = args;
    else if (keyword === 'WORKDIR') stage.workdir = args;
    else if (keyword === 'ENTRYPOINT') {
      if (!args.startsWith('[')) throw new Error('Dockerfile: ENTRYPOINT in shell form; floe uses the exec form');
      stage.entrypoint = JSON.parse(args) as string[];
    } else if (keyword === 'COPY') {
      const words = args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      stage.copies.push({ from, sources: paths.slice(0, -1), destination: paths[paths.length - 1] });
    }
  }
  if (!stage) throw new Error('Dockerfile: no FROM');
  return stage;
}

export async function readDockerfile(): Promise<FinalStage> {
  return parseDockerfile(await readFile(DOCKERFILE, 'utf8'));
}

/**
 * Where each image path comes from in this checkout: a COPY from the build context maps to the repository file, a COPY
 * from the build stage (which copied the whole context to its WORKDIR) to the repository path under it, except for
 * the paths given in `built` (what the build stage produced, e.g. `dist/functions/` → a directory a test built).
 */
export function imagePathMap(stage: FinalStage, built: Record<string, string> = {}): (imagePath: string) => string {
  const mappings: { image: string; host: string }[] = [];
  for (const copy of stage.copies) {
    if (copy.sources.length !== 1) continue;
    const source = copy.sources[0];
    let host: string;
    if (copy.from === undefined) host = path.join(REPO_ROOT, source);
    else {
      const workdir = stage.stageWorkdirs[copy.from];
      if (!workdir || !source.startsWith(`${workdir.replace(/\/$/, '')}/`)) continue;
      const relative = source.slice(workdir.replace(/\/$/, '').length + 1);
      const producedBy = Object.keys(built).find((prefix) => relative === prefix || relative.startsWith(prefix));
      host = producedBy
        ? path.join(built[producedBy], relative.slice(producedBy.length))
        : path.join(REPO_ROOT, relative);
    }
    mappings.push({
      image: copy.destination,
      host: copy.destination.endsWith('/') ? `${host.replace(/\/$/, '')}/` : host,
    });
  }
  mappings.sort((a, b) => b.image.length - a.image.length);
  return (imagePath) => {
    const mapping = mappings.find(
      (m) => imagePath === m.image || (m.image.endsWith('/') && imagePath.startsWith(m.image)),
    );
    return mapping ? mapping.host + imagePath.slice(mapping.image.length) : imagePath;
  };
}

/** Replaces every image path inside `text` (an entrypoint command, an env value) by its host path. */
export function mapImagePaths(text: string, stage: FinalStage, toHost: (imagePath: string) => string): string {
  const destinations = stage.copies.map((copy) => copy.destination).sort((a, b) => b.length - a.length);
  let result = text;
  for (const destination of destinations) result = result.split(destination).join(toHost(destination));
  return result;
}
