/**
 * Renders kustomizations with `kustomize build` (the pinned version `.ci/install-kustomize` installs) or, without
 * it, `kubectl kustomize` (what `kubectl apply -k` and Argo CD build), and parses the output.
 */
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseYamlDocuments } from '../../local/knative/manifests.ts';
import type { K8sObject } from './problem.ts';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OVERLAYS = ['dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];
/** dev plus the optional `bi` component (kustomize/components/bi, Trino and Superset): not an environment of its own. */
export const BI_OVERLAY = 'bi';

export function overlayDir(overlay: Overlay | typeof BI_OVERLAY, root = REPO_ROOT): string {
  return path.join(root, 'kustomize', 'overlays', overlay);
}

export interface Renderer {
  /** What to run: `[program, ...args]`; the kustomization directory is appended. */
  command: string[];
  /** The renderer and its version, for test names and messages. */
  version: string;
}

/** Where `.ci/install-kustomize` puts kustomize, so tests find it even when that directory is not on PATH. */
const CACHED_KUSTOMIZE = path.join(
  process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'),
  'floe',
  'bin',
  'kustomize',
);

export const NO_RENDERER =
  'neither kustomize nor kubectl is installed: run `bash .ci/install-kustomize` (needs Go) or install kubectl >= 1.27';

async function firstLine(program: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run(program, args, { timeout: 30_000 });
    return stdout.trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

let found: Promise<Renderer | undefined> | undefined;

/** kustomize from PATH, then the one `.ci/install-kustomize` cached, then kubectl; undefined when there is none. */
export function findRenderer(): Promise<Renderer | undefined> {
  found ??= (async () => {
    for (const program of ['kustomize', CACHED_KUSTOMIZE]) {
      const version = await firstLine(program, ['version']);
      if (version) return { command: [program, 'build'], version: `kustomize ${version}` };
    }
    const kubectl = await firstLine('kubectl', ['version', '--client']);
    if (kubectl) return { command: ['kubectl', 'kustomize'], version: `kubectl (${kubectl})` };
    return undefined;
  })();
  return found;
}

export async function renderKustomization(dir: string): Promise<K8sObject[]> {
  const renderer = await findRenderer();
  if (!renderer) throw new Error(NO_RENDERER);
  const [program, ...args] = renderer.command;
  const { stdout } = await run(program, [...args, dir], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return parseYamlDocuments(stdout, `${renderer.command.join(' ')} ${dir}`) as K8sObject[];
}
