/**
 * Renders kustomizations with `kubectl kustomize` (what `kubectl apply -k` and Argo CD build) and parses the output.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseYamlDocuments } from '../../local/knative/manifests.ts';
import type { K8sObject } from './problem.ts';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OVERLAYS = ['dev', 'prod'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export function overlayDir(overlay: Overlay, root = REPO_ROOT): string {
  return path.join(root, 'kustomize', 'overlays', overlay);
}

/** The kubectl version line, or undefined when kubectl is not installed. */
export async function kubectlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('kubectl', ['version', '--client'], { timeout: 30_000 });
    return stdout.split('\n')[0];
  } catch {
    return undefined;
  }
}

export async function renderKustomization(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return parseYamlDocuments(stdout, `kubectl kustomize ${dir}`) as K8sObject[];
}
