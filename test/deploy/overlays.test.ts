/**
 * Every overlay renders with kustomize (render.ts) and the render passes the offline validation (CRD schemas in
 * strict mode, webhook rules, cross-references); the local stack's plain-YAML view of knative/ routes exactly like
 * the rendered overlays; immutable fields are unchanged against the committed manifests. The bi overlay (dev plus
 * kustomize/components/bi, Trino and Superset) passes the same validation, adds only its own objects, and its Trino
 * catalog resolves to the Nessie and warehouse floe's own configuration gives the functions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
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
  BI_OVERLAY,
  findRenderer,
  NO_RENDERER,
  OVERLAYS,
  overlayDir,
  renderKustomization,
  REPO_ROOT,
  type Overlay,
} from './render.ts';
import { validateRender } from './validate.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { TRINO_VERSION } from '../interop/trino-server.ts';

const run = promisify(execFile);

/** Secrets prod deliberately leaves out of Git (knative/README.md, "Credentials"). */
const PROD_EXTERNAL_SECRETS = ['floe-s3-credentials', 'floe-kafka-auth'];
/** Superset's key and admin login, which the bi component's user creates (knative/README.md, "Trino and Superset"). */
const BI_EXTERNAL_SECRETS = ['floe-superset'];
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

/** `${ENV:NAME}` in a Trino properties file, resolved the way Trino resolves it at start. */
function resolveTrinoProperties(text: string, env: Record<string, string>): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const at = trimmed.indexOf('=');
    properties[trimmed.slice(0, at).trim()] = trimmed
      .slice(at + 1)
      .trim()
      .replace(/\$\{ENV:([^}]+)\}/g, (_, name: string) => {
        if (env[name] === undefined) throw new Error(`\${ENV:${name}} is not in the container's environment`);
        return env[name];
      });
  }
  return properties;
}

describeIfAvailable(renderer ? undefined : NO_RENDERER)(
  `the ${BI_OVERLAY} overlay (dev + kustomize/components/bi) rendered with ${renderer?.version ?? 'kustomize'}`,
  () => {
    let bi: K8sObject[];
    let dev: K8sObject[];
    beforeAll(async () => {
      [bi, dev] = await Promise.all([
        renderKustomization(overlayDir(BI_OVERLAY)),
        renderKustomization(overlayDir('dev')),
      ]);
    });
    const key = (object: K8sObject) => `${object.apiVersion} ${object.kind} ${object.metadata.name}`;
    const get = (apiVersion: string, kind: string, name: string) => {
      const found = bi.find((o) => o.apiVersion === apiVersion && o.kind === kind && o.metadata.name === name);
      if (!found) throw new Error(`${apiVersion} ${kind}/${name} is not in the ${BI_OVERLAY} render`);
      return found;
    };
    const configMap = (name: string) => get('v1', 'ConfigMap', name);
    const deployment = (name: string) => get('apps/v1', 'Deployment', name);
    const secretData = (name: string): Record<string, string> => get('v1', 'Secret', name).stringData;
    /** A container's environment from its envFrom and plain values (Secrets of the render only). */
    const environment = (container: K8sObject): Record<string, string> => {
      const env: Record<string, string> = {};
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) Object.assign(env, configMap(source.configMapRef.name).data);
        // an optional Secret (floe-nessie) that dev does not define adds nothing
        if (source.secretRef && !source.secretRef.optional) Object.assign(env, secretData(source.secretRef.name));
      }
      for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
      return env;
    };
    const mountedConfigMap = (podSpec: K8sObject, container: K8sObject, mountPath: string) => {
      const mount = container.volumeMounts.find((m: K8sObject) => m.mountPath === mountPath);
      expect(mount, `a volume mounted at ${mountPath}`).toBeDefined();
      const volume = podSpec.volumes.find((v: K8sObject) => v.name === mount.name);
      return configMap(volume.configMap.name);
    };

    it('passes the offline validation: structure, references under hash-suffixed names, sync waves, non-root, pinned images', () => {
      expect(formatProblems(validateRender(bi, { externalSecrets: BI_EXTERNAL_SECRETS }))).toBe('');
    });

    it("is dev plus Trino, Superset and the dashboard import, unchanged and all in dev's namespace", () => {
      const devKeys = new Set(dev.map(key));
      for (const object of dev) expect(bi.find((o) => key(o) === key(object))).toEqual(object);
      const added = bi
        .filter((object) => !devKeys.has(key(object)))
        .map((object) => key(object).replace(/-[a-z0-9]{10}$/, '-<hash>'))
        .sort();
      expect(added).toEqual([
        'apps/v1 Deployment superset',
        'apps/v1 Deployment trino',
        'batch/v1 Job superset-dashboard-import',
        'v1 ConfigMap floe-superset-dashboard-<hash>',
        'v1 ConfigMap superset-config-<hash>',
        'v1 ConfigMap trino-catalog-<hash>',
        'v1 ConfigMap trino-etc-<hash>',
        'v1 PersistentVolumeClaim superset-home',
        'v1 Service superset',
        'v1 Service trino',
      ]);
      for (const object of bi) if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe('floe-dev');
    });

    it('points the Trino catalog floe at the Nessie, warehouse and S3 of floe-config and floe-s3-credentials', () => {
      const trino = deployment('trino').spec.template.spec;
      const [container] = trino.containers;
      const writer = bi.find((o) => o.apiVersion === 'serving.knative.dev/v1' && o.metadata.name === 'writer')!;
      const writerContainer = writer.spec.template.spec.containers[0];
      // the same ConfigMap and Secret as the functions, so the overlay sets each value in one place
      expect(container.envFrom).toEqual(
        writerContainer.envFrom.filter((source: K8sObject) => !source.secretRef?.optional),
      );
      const catalog = mountedConfigMap(trino, container, '/etc/trino/catalog');
      const properties = resolveTrinoProperties(catalog.data['floe.properties'], environment(container));
      const { FLOE_CONFIG: _mountedFile, ...functionEnv } = environment(writerContainer);
      const floe = loadEnv(functionEnv);
      expect(properties).toEqual({
        'connector.name': 'iceberg',
        'iceberg.catalog.type': 'nessie',
        // floe's client appends /v2 to NESSIE_URI as well (shared/catalog/nessie/client.ts)
        'iceberg.nessie-catalog.uri': `${floe.nessieUri}/v2`,
        'iceberg.nessie-catalog.ref': 'main',
        'iceberg.nessie-catalog.default-warehouse-dir': floe.warehouse,
        'fs.native-s3.enabled': 'true',
        's3.endpoint': floe.s3!.endpoint,
        's3.region': floe.s3!.region,
        's3.path-style-access': String(floe.s3!.forcePathStyle),
        's3.aws-access-key': floe.s3!.accessKeyId,
        's3.aws-secret-key': floe.s3!.secretAccessKey,
      });
      expect(properties['iceberg.nessie-catalog.uri']).toBe('http://nessie.nessie.svc.cluster.local:19120/api/v2');
      expect(properties['iceberg.nessie-catalog.default-warehouse-dir']).toBe('s3://floe-warehouse/');
      const etc = mountedConfigMap(trino, container, '/etc/trino');
      expect(Object.keys(etc.data).sort()).toEqual(['config.properties', 'jvm.config', 'node.properties']);
      expect(etc.data['config.properties']).toMatch(/^http-server\.http\.port=8080$/m);
    });

    it(`runs the images the interop tests run (Trino ${TRINO_VERSION}), probed, non-root, behind ClusterIP Services`, () => {
      const trino = deployment('trino').spec.template.spec;
      expect(trino.containers[0].image).toBe(`trinodb/trino:${TRINO_VERSION}`);
      // /v1/info answers 200 while Trino starts; the image's health-check waits for "starting": false
      expect(trino.containers[0].readinessProbe.exec.command).toEqual(['/usr/lib/trino/bin/health-check']);
      expect(trino.containers[0].livenessProbe.httpGet.path).toBe('/v1/info');
      const superset = deployment('superset').spec.template.spec;
      for (const container of [...superset.initContainers, ...superset.containers])
        expect(container.image, container.name).toBe('apache/superset:6.1.0');
      expect(superset.containers[0].readinessProbe.httpGet.path).toBe('/health');
      expect(deployment('superset').spec.strategy.type).toBe('Recreate');
      for (const podSpec of [trino, superset])
        expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
      expect(get('v1', 'Service', 'trino').spec).toMatchObject({ type: 'ClusterIP', ports: [{ port: 8080 }] });
      expect(get('v1', 'Service', 'superset').spec).toMatchObject({ type: 'ClusterIP', ports: [{ port: 8088 }] });
    });

    it('installs the trino driver where superset_config.py puts it on sys.path, and reads its key from floe-superset', () => {
      const superset = deployment('superset').spec.template.spec;
      const driver = superset.initContainers.find((c: K8sObject) => c.name === 'trino-driver');
      const target = driver.command[driver.command.indexOf('--target') + 1];
      expect(driver.command.join(' ')).toMatch(/--python \/app\/\.venv\/bin\/python .* trino==\d+\.\d+\.\d+$/);
      for (const container of superset.containers) {
        const env = Object.fromEntries(container.env.map((v: K8sObject) => [v.name, v]));
        expect(env.SUPERSET_DRIVERS_DIR.value).toBe(target);
        expect(env.SUPERSET_SECRET_KEY.valueFrom.secretKeyRef).toEqual({ name: 'floe-superset', key: 'SECRET_KEY' });
        const config = mountedConfigMap(superset, container, '/app/pythonpath');
        expect(config.data['superset_config.py']).toMatch(/^SECRET_KEY = os\.environ\["SUPERSET_SECRET_KEY"\]$/m);
        expect(config.data['superset_config.py']).toMatch(/SUPERSET_DRIVERS_DIR/);
        expect(container.volumeMounts.find((m: K8sObject) => m.mountPath === target)).toBeDefined();
      }
    });

    it('imports the dashboard in a PostSync hook, with options and variables import_dashboard.py has', () => {
      const job = get('batch/v1', 'Job', 'superset-dashboard-import');
      expect(job.metadata.annotations).toMatchObject({
        'argocd.argoproj.io/hook': 'PostSync',
        'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
      });
      const podSpec = job.spec.template.spec;
      const [container] = podSpec.containers;
      const dashboard = mountedConfigMap(podSpec, container, '/dashboard');
      expect(dashboard.metadata.name).toMatch(/^floe-superset-dashboard-[a-z0-9]{10}$/);
      const script: string = dashboard.data['import_dashboard.py'];
      expect(script).toBeDefined();
      const command = container.command.join(' ');
      const invocation = command.slice(command.indexOf('import_dashboard.py'));
      const options = new Set([...script.matchAll(/add_argument\(\s*"(--[a-z-]+)"/g)].map((m) => m[1]));
      for (const [option] of invocation.matchAll(/--[a-z-]+/g)) expect(options, option).toContain(option);
      expect(invocation).toContain('--dir /dashboard');
      // the Trino Service and catalog of this render
      expect(invocation).toContain(`--trino-uri trino://floe@trino:8080/floe`);
      for (const variable of container.env) expect(script).toContain(`os.environ.get("${variable.name}"`);
      const env = Object.fromEntries(container.env.map((v: K8sObject) => [v.name, v]));
      expect(env.SUPERSET_URL.value).toBe('http://superset:8088');
      expect(env.SUPERSET_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'floe-superset', key: 'ADMIN_PASSWORD' });
    });

    it('knative/README.md documents the component, the Secret floe-superset with every key the render reads', async () => {
      const readme = await readFile(path.join(REPO_ROOT, 'knative', 'README.md'), 'utf8');
      const section = readme.slice(readme.indexOf('## Trino and Superset (the `bi` component)'));
      expect(section.length).toBeLessThan(readme.length);
      const keys = new Set<string>();
      for (const { spec } of bi.filter((o) => ['Deployment', 'Job'].includes(o.kind)).map((o) => o.spec.template))
        for (const container of [...(spec.initContainers ?? []), ...spec.containers])
          for (const variable of container.env ?? [])
            if (variable.valueFrom?.secretKeyRef?.name === 'floe-superset')
              keys.add(variable.valueFrom.secretKeyRef.key);
      expect([...keys].sort()).toEqual(['ADMIN_PASSWORD', 'ADMIN_USERNAME', 'SECRET_KEY']);
      const create = section.match(/create secret generic floe-superset[^`]*/)?.[0] ?? '';
      for (const name of keys) expect(create).toContain(`--from-literal=${name}=`);
      expect(section).toContain('- ../../components/bi');
      expect(section).toContain('kustomize/overlays/bi');
    });

    it('adds to prod with the components line the README shows', async () => {
      const temp = await tempDir('floe-prod-bi');
      try {
        const overlay = path.join(temp.dir, 'prod-bi');
        await mkdir(overlay);
        const relative = (target: string) => path.relative(overlay, path.join(REPO_ROOT, target));
        await writeFile(
          path.join(overlay, 'kustomization.yaml'),
          [
            'apiVersion: kustomize.config.k8s.io/v1beta1',
            'kind: Kustomization',
            'namespace: floe',
            `resources: [${relative('kustomize/overlays/prod')}]`,
            `components: [${relative('kustomize/components/bi')}]`,
            '',
          ].join('\n'),
        );
        const render = await renderKustomization(overlay);
        const problems = validateRender(render, {
          externalSecrets: [...PROD_EXTERNAL_SECRETS, ...BI_EXTERNAL_SECRETS],
        });
        expect(formatProblems(problems)).toBe('');
        const trino = render.find((o) => o.kind === 'Deployment' && o.metadata.name === 'trino')!;
        expect(trino.metadata.namespace).toBe('floe');
      } finally {
        await temp.cleanup();
      }
    });
  },
);
