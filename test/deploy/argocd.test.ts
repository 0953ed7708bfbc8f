/**
 * The Argo CD Applications point at the overlays with the overlays' namespaces, and the Lua health checks for the
 * Knative Eventing kinds turn the Ready condition into Argo CD health.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { applicationProblems, runHealthCheck } from './argocd.ts';
import { formatProblems, type K8sObject } from './problem.ts';
import { OVERLAYS, overlayDir, REPO_ROOT } from './render.ts';
import { webhookProblems } from './webhook-rules.ts';

const ARGOCD_DIR = path.join(REPO_ROOT, 'kustomize', 'argocd');
const readYaml = async (file: string): Promise<K8sObject> => parse(await readFile(path.join(ARGOCD_DIR, file), 'utf8'));

describe.each(OVERLAYS)('Application floe-%s', (overlay) => {
  it('is a well-formed Application syncing the overlay into its namespace', async () => {
    const app = await readYaml(`floe-${overlay}.yaml`);
    expect(formatProblems(applicationProblems(app))).toBe('');
    expect(app.spec.source.path).toBe(`kustomize/overlays/${overlay}`);
    expect(existsSync(path.join(REPO_ROOT, app.spec.source.path, 'kustomization.yaml'))).toBe(true);
    const kustomization = parse(await readFile(path.join(overlayDir(overlay), 'kustomization.yaml'), 'utf8'));
    expect(app.spec.destination.namespace).toBe(kustomization.namespace);
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
  });
});

it('prod lets Argo CD create and label the namespace that holds the out-of-band Secrets', async () => {
  const app = await readYaml('floe-prod.yaml');
  expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
  expect(app.spec.syncPolicy.managedNamespaceMetadata.labels['bindings.knative.dev/include']).toBe('true');
  expect(app.metadata.finalizers).toBeUndefined();
});

it('the Application check reports unknown fields and a missing destination', () => {
  const findings = formatProblems(
    applicationProblems({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'x', namespace: 'argocd' },
      spec: {
        project: 'default',
        source: { repoURL: 'https://example.com/r.git', path: 'p', targetRevision: 'main', pth: 'q' },
        syncPolicy: { syncOptions: ['CreateNamespaces=true'] },
      },
    }),
  );
  expect(findings).toMatch(/spec\.source\.pth: unknown field "pth"/);
  expect(findings).toMatch(/spec\.destination: needs server \(or name\) and namespace/);
  expect(findings).toMatch(/unknown sync option CreateNamespaces=true/);
});

it('the Application check wants PruneLast=true with automated prune', () => {
  const app = (syncOptions: string[]) => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'x', namespace: 'argocd' },
    spec: {
      project: 'default',
      source: { repoURL: 'https://example.com/r.git', path: 'p', targetRevision: 'main' },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'floe' },
      syncPolicy: { automated: { prune: true }, syncOptions },
    },
  });
  expect(formatProblems(applicationProblems(app(['ServerSideApply=true'])))).toMatch(
    /automated prune needs PruneLast=true/,
  );
  expect(applicationProblems(app(['ServerSideApply=true', 'PruneLast=true']))).toEqual([]);
});

describe('Lua health checks (argocd-cm)', () => {
  const KINDS = [
    'eventing.knative.dev_Broker',
    'eventing.knative.dev_Trigger',
    'serving.knative.dev_Service',
    'sources.knative.dev_KafkaSource',
    'sources.knative.dev_PingSource',
    'sources.knative.dev_SinkBinding',
  ];
  const ready = (status: string, extra: Record<string, string> = {}) => ({ type: 'Ready', status, ...extra });

  it('is a ConfigMap patch for argocd-cm with a check per Knative kind floe deploys', async () => {
    const configMap = await readYaml('argocd-cm-knative-health.yaml');
    expect(configMap.metadata).toMatchObject({ name: 'argocd-cm', namespace: 'argocd' });
    expect(webhookProblems(configMap)).toEqual([]);
    expect(Object.keys(configMap.data).sort()).toEqual(
      KINDS.map((kind) => `resource.customizations.health.${kind}`).sort(),
    );
  });

  it.each(KINDS)('%s: Ready=True is Healthy, Ready=False Degraded, otherwise Progressing', async (kind) => {
    const script = (await readYaml('argocd-cm-knative-health.yaml')).data[`resource.customizations.health.${kind}`];
    const object = (status: unknown, generation = 2) => ({ metadata: { name: 'x', generation }, status });
    expect(
      runHealthCheck(
        script,
        object({ observedGeneration: 2, conditions: [{ type: 'Addressable', status: 'True' }, ready('True')] }),
      ),
    ).toEqual({ status: 'Healthy', message: 'Ready' });
    expect(
      runHealthCheck(
        script,
        object({
          observedGeneration: 2,
          conditions: [ready('False', { reason: 'SubscriberResolved', message: 'service "writer" not found' })],
        }),
      ),
    ).toEqual({
      status: 'Degraded',
      message: 'SubscriberResolved: service "writer" not found',
    });
    expect(
      runHealthCheck(script, object({ observedGeneration: 2, conditions: [ready('Unknown', { reason: 'Pending' })] }))
        .status,
    ).toBe('Progressing');
    expect(runHealthCheck(script, object({ observedGeneration: 1, conditions: [ready('True')] })).status).toBe(
      'Progressing',
    );
    expect(runHealthCheck(script, object(undefined))).toEqual({
      status: 'Progressing',
      message: 'Waiting for the Ready condition',
    });
  });
});
