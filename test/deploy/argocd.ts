/**
 * Argo CD files: a structural check of Application manifests (no schema for them in the reference), and a runner
 * for the Lua health checks of argocd-cm (fengari, a Lua VM in JavaScript; Argo CD runs them on gopher-lua 5.1, and
 * the scripts use nothing that differs between the two).
 */
import { lauxlib, lua, lualib, to_luastring } from 'fengari';
import { isRecord, problem, type K8sObject, type Problem } from './problem.ts';

const SPEC_FIELDS = [
  'project',
  'source',
  'sources',
  'destination',
  'syncPolicy',
  'ignoreDifferences',
  'info',
  'revisionHistoryLimit',
];
const SOURCE_FIELDS = [
  'repoURL',
  'path',
  'targetRevision',
  'kustomize',
  'helm',
  'directory',
  'plugin',
  'chart',
  'ref',
  'name',
];
const SYNC_POLICY_FIELDS = ['automated', 'syncOptions', 'retry', 'managedNamespaceMetadata'];
const SYNC_OPTIONS =
  /^(Validate|CreateNamespace|PrunePropagationPolicy|PruneLast|ApplyOutOfSyncOnly|Replace|ServerSideApply|FailOnSharedResource|RespectIgnoreDifferences|Prune|Delete)=/;

export function applicationProblems(app: K8sObject): Problem[] {
  const problems: Problem[] = [];
  const report = (path: string, message: string) => problems.push(problem(app, path, message));
  if (app.apiVersion !== 'argoproj.io/v1alpha1' || app.kind !== 'Application')
    report('', 'expected an argoproj.io/v1alpha1 Application');
  if (!app.metadata?.name) report('metadata.name', 'missing');
  if (!app.metadata?.namespace) report('metadata.namespace', "missing (Applications live in Argo CD's namespace)");
  const spec = app.spec;
  if (!isRecord(spec)) return [...problems, problem(app, 'spec', 'missing')];
  for (const key of Object.keys(spec)) if (!SPEC_FIELDS.includes(key)) report(`spec.${key}`, `unknown field "${key}"`);
  if (!spec.project) report('spec.project', 'missing');
  const source = spec.source;
  if (!isRecord(source)) report('spec.source', 'missing');
  else {
    for (const key of Object.keys(source))
      if (!SOURCE_FIELDS.includes(key)) report(`spec.source.${key}`, `unknown field "${key}"`);
    for (const field of ['repoURL', 'path', 'targetRevision'])
      if (typeof source[field] !== 'string' || !source[field]) report(`spec.source.${field}`, 'missing');
  }
  if (
    !isRecord(spec.destination) ||
    !(spec.destination.server || spec.destination.name) ||
    !spec.destination.namespace
  ) {
    report('spec.destination', 'needs server (or name) and namespace');
  }
  const policy = spec.syncPolicy ?? {};
  for (const key of Object.keys(policy))
    if (!SYNC_POLICY_FIELDS.includes(key)) report(`spec.syncPolicy.${key}`, `unknown field "${key}"`);
  for (const option of policy.syncOptions ?? [])
    if (!SYNC_OPTIONS.test(option)) report('spec.syncPolicy.syncOptions', `unknown sync option ${option}`);
  // floe's ConfigMaps are hash-suffixed: a config change renames them, and pruning the old name in the same pass as
  // the apply would pull it from under the Revisions that still mount it.
  if (policy.automated?.prune === true && !(policy.syncOptions ?? []).includes('PruneLast=true')) {
    report(
      'spec.syncPolicy.syncOptions',
      'floe: automated prune needs PruneLast=true (old hash-suffixed ConfigMaps must outlive the rollout)',
    );
  }
  return problems;
}

export interface HealthStatus {
  status: string;
  message: string;
}

/** Runs an argocd-cm health script against an object, as Argo CD does (global `obj`, returns `hs`). */
export function runHealthCheck(script: string, object: unknown): HealthStatus {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const program = `obj = ${toLua(object)}\nlocal function check()\n${script}\nend\nlocal hs = check()\nreturn tostring(hs.status) .. "\\n" .. tostring(hs.message)`;
  if (lauxlib.luaL_loadstring(L, to_luastring(program)) !== lua.LUA_OK || lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
    throw new Error(`health check failed to run: ${lua.lua_tojsstring(L, -1)}`);
  }
  const [status, ...message] = lua.lua_tojsstring(L, -1).split('\n');
  return { status, message: message.join('\n') };
}

/** A Lua table constructor for JSON-like data (ASCII strings). */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => `[${JSON.stringify(key)}] = ${toLua(item)}`)
    .join(', ')}}`;
}
