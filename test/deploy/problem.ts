/**
 * A finding of the offline manifest checks: which object, where in it, what is wrong. Every check returns a list of
 * these (empty = fine) so one run reports everything at once.
 */

export interface Problem {
  /** `Kind/name`, or a file for documents outside a render. */
  object: string;
  /** Dotted path inside the object (`spec.filters[0]`), '' for the object as a whole. */
  path: string;
  message: string;
}

/** A Kubernetes object as parsed from YAML. */
export type K8sObject = Record<string, any>;

export function objectId(object: K8sObject): string {
  return `${object?.kind ?? '?'}/${object?.metadata?.name ?? '?'}`;
}

export function problem(object: K8sObject | string, path: string, message: string): Problem {
  return { object: typeof object === 'string' ? object : objectId(object), path, message };
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.object}${p.path ? ` ${p.path}` : ''}: ${p.message}`).join('\n');
}

export function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `group/Kind` of an object (`v1/ConfigMap` for the core group). */
export function groupKind(object: K8sObject): string {
  const apiVersion = String(object.apiVersion ?? '');
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : 'v1';
  return `${group}/${object.kind}`;
}
