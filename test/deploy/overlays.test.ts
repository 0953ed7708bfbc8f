/**
 * Every overlay renders with kustomize (render.ts) and the render passes the offline validation (CRD schemas in
 * strict mode, webhook rules, cross-references); the local stack's plain-YAML view of knative/ routes exactly like
 * the rendered overlays; immutable fields are unchanged against the committed manifests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadManifests, parseManifests, type Manifests } from '../../local/knative/manifests.ts';
import { tempDir } from '../helpers/tmp.ts';
import { immutableFieldChanges } from './immutable.ts';
import { formatProblems, type K8sObject } from './problem.ts';
import { describeIfAvailable } from '../helpers/requires.ts';
import {
  findRenderer,
  NO_RENDERER,
  OVERLAYS,
  overlayDir,
  renderKustomization,
  REPO_ROOT,
  type Overlay,
} from './render.ts';
import { validateRender } from './validate.ts';

const run = promisify(execFile);

/** Secrets prod deliberately leaves out of Git (knative/README.md, "Credentials"). */
const PROD_EXTERNAL_SECRETS = ['floe-s3-credentials', 'floe-kafka-auth'];
const externalSecrets = (overlay: Overlay) => (overlay === 'prod' ? PROD_EXTERNAL_SECRETS : []);

const renderer = await findRenderer();

const renders = {} as Record<Overlay, K8sObject[]>;
const byKind = (overlay: Overlay, kind: string) => renders[overlay].filter((object) => object.kind === kind);
const one = (overlay: Overlay, kind: string, name: string) =>
  renders[overlay].find((object) => object.kind === kind && object.metadata.name === name)!;

describeIfAvailable(renderer ? undefined : NO_RENDERER)(
  `overlays rendered with ${renderer?.version ?? 'kustomize'}`,
  () => {
    beforeAll(async () => {
      for (const overlay of OVERLAYS) renders[overlay] = await renderKustomization(overlayDir(overlay));
    });

    describe.each(OVERLAYS)('%s', (overlay) => {
      it('passes strict schema validation, the webhook rules and the cross-reference checks', () => {
        const problems = validateRender(renders[overlay], { externalSecrets: externalSecrets(overlay) });
        expect(formatProblems(problems)).toBe('');
        expect(renders[overlay].length).toBeGreaterThan(20);
      });

      it('puts everything in the overlay namespace and keeps the base names (no prefix/suffix)', async () => {
        const namespaced = renders[overlay].filter((object) => object.kind !== 'Namespace');
        const namespaces = new Set(namespaced.map((object) => object.metadata.namespace));
        expect(namespaces).toEqual(new Set([overlay === 'dev' ? 'floe-dev' : 'floe']));
        const base = await loadManifests();
        expect(
          byKind(overlay, 'Trigger')
            .map((t) => t.metadata.name)
            .sort(),
        ).toEqual(base.triggers.map((t) => t.name).sort());
        expect(
          byKind(overlay, 'Service')
            .map((s) => s.metadata.name)
            .sort(),
        ).toEqual(base.services.map((s) => s.name).sort());
        const kustomization = parse(await readFile(path.join(overlayDir(overlay), 'kustomization.yaml'), 'utf8'));
        expect(kustomization).not.toHaveProperty('namePrefix');
        expect(kustomization).not.toHaveProperty('nameSuffix');
      });

      it('rewrites the hash-suffixed ConfigMap names inside every Knative Service', () => {
        const configMaps = byKind(overlay, 'ConfigMap').map((configMap) => configMap.metadata.name as string);
        const config = configMaps.find((name) => name.startsWith('floe-config-'))!;
        const pipeline = configMaps.find((name) => name.startsWith('floe-pipeline-'))!;
        expect(config).toMatch(/^floe-config-[a-z0-9]{10}$/);
        for (const service of byKind(overlay, 'Service')) {
          const podSpec = service.spec.template.spec;
          expect(podSpec.containers[0].envFrom[0].configMapRef.name).toBe(config);
          expect(podSpec.volumes[0].configMap.name).toBe(pipeline);
        }
      });

      it('routes like the plain-YAML view of knative/ the local stack reads', async () => {
        const rendered = routing(parseManifests(renders[overlay]));
        expect(rendered).toEqual(routing(await loadManifests()));
      });
    });

    it('dev uses the channel-based Broker, ships dev-only credentials and labels its namespace for SinkBindings', () => {
      const broker = one('dev', 'Broker', 'default');
      expect(broker.metadata.annotations['eventing.knative.dev/broker.class']).toBe('MTChannelBasedBroker');
      // named explicitly, so a cluster whose default Broker class is Kafka cannot give it the Kafka Broker's config
      expect(broker.spec.config).toEqual({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'config-br-default-channel',
        namespace: 'knative-eventing',
      });
      expect(byKind('dev', 'ConfigMap').map((c) => c.metadata.name)).not.toContain('kafka-broker-config');
      expect(one('dev', 'Secret', 'floe-s3-credentials').stringData).toEqual({
        AWS_ACCESS_KEY_ID: 'minioadmin',
        AWS_SECRET_ACCESS_KEY: 'minioadmin',
      });
      expect(one('dev', 'Namespace', 'floe-dev').metadata.labels['bindings.knative.dev/include']).toBe('true');
      for (const source of byKind('dev', 'KafkaSource')) expect(source.spec.net).toBeUndefined();
    });

    it('prod uses the Kafka Broker with auth, KEDA-scaled KafkaSources over TLS/SASL, and no Secrets in Git', () => {
      const broker = one('prod', 'Broker', 'default');
      expect(broker.metadata.annotations['eventing.knative.dev/broker.class']).toBe('Kafka');
      expect(one('prod', 'ConfigMap', 'kafka-broker-config').data).toMatchObject({
        'auth.secret.ref.name': 'floe-kafka-auth',
        'default.topic.replication.factor': '3',
      });
      expect(byKind('prod', 'Secret')).toEqual([]);
      for (const source of byKind('prod', 'KafkaSource')) {
        expect(source.metadata.annotations['autoscaling.eventing.knative.dev/class']).toBe(
          'keda.autoscaling.knative.dev',
        );
        expect(source.metadata.annotations['autoscaling.eventing.knative.dev/min-scale']).toBe('0');
        expect(source.spec.net.tls.enable).toBe(true);
        expect(source.spec.net.sasl).toMatchObject({
          enable: true,
          user: { secretKeyRef: { name: 'floe-kafka-auth', key: 'user' } },
        });
        // the JSON6902 patch replaced the list and left the rest of the spec alone
        expect(source.spec.bootstrapServers).toHaveLength(3);
        expect(source.spec.consumerGroup).toMatch(/^floe-/);
      }
      for (const service of byKind('prod', 'Service')) {
        expect(service.spec.template.spec.containers[0].image).toBe('ghcr.io/floe-dev/floe:0.1.0');
        expect(service.spec.template.metadata.annotations['autoscaling.knative.dev/min-scale']).toBe('0');
      }
    });

    describe('immutable fields against the committed manifests', () => {
      const baseline = process.env.FLOE_DEPLOY_BASELINE ?? 'HEAD';
      let checkout: { dir: string; cleanup: () => Promise<void> } | undefined;
      afterAll(async () => checkout?.cleanup());

      it.for(OVERLAYS)(`%s: no immutable field differs from ${baseline}`, async (overlay, context) => {
        if (!checkout) {
          const temp = await tempDir('floe-baseline');
          checkout = temp;
          try {
            const archive = path.join(temp.dir, 'baseline.tar');
            await run('git', [
              '-C',
              REPO_ROOT,
              'archive',
              '--format=tar',
              '-o',
              archive,
              baseline,
              'knative',
              'kustomize',
            ]);
            await run('tar', ['-xf', archive, '-C', temp.dir]);
          } catch {
            checkout = undefined;
            await temp.cleanup();
          }
        }
        if (!checkout) return context.skip(`${baseline} has no knative/ and kustomize/ yet`);
        const before = await renderKustomization(overlayDir(overlay, checkout.dir));
        expect(formatProblems(immutableFieldChanges(before, renders[overlay]))).toBe('');
      });
    });
  },
);

/** What the local broker and scheduler take from the manifests (endpoints and scaling may differ per overlay). */
function routing(manifests: Manifests) {
  const byName = <T extends { name: string }>(items: T[]) => [...items].sort((a, b) => a.name.localeCompare(b.name));
  return {
    // of a Trigger's annotations only the delivery order routes (autoscaling and sync waves differ per overlay)
    triggers: byName(manifests.triggers).map(({ annotations, ...trigger }) => ({
      ...trigger,
      order: annotations['kafka.eventing.knative.dev/delivery.order'],
    })),
    pingSources: byName(manifests.pingSources),
    kafkaSources: byName(manifests.kafkaSources).map(
      ({ name, topics, consumerGroup, initialOffset, ordering, delivery, sink }) => ({
        name,
        topics,
        consumerGroup,
        initialOffset,
        ordering,
        delivery,
        sink,
      }),
    ),
    functions: byName(manifests.services).map(
      ({ name, function: handler, env, containerConcurrency, timeoutSeconds }) => ({
        name,
        handler,
        env,
        containerConcurrency,
        timeoutSeconds,
      }),
    ),
    sinkBindings: byName(manifests.sinkBindings),
  };
}
