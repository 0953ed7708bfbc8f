/**
 * What a real cluster would do to floe's manifests (cluster-rules.ts): each rule finds the defect it is for when one
 * thing in the base is broken (the base as the local loader reads it, no renderer needed); every overlay render
 * passes them with the USER of the Dockerfile's image, with the sync waves, timeouts, retries, Broker configs and
 * autoscaling classes decided for it; and the cluster-wide Kafka data-plane settings
 * (kustomize/cluster/kafka-data-plane.sh) fit the writer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KNATIVE_DIR, loadManifests, readKustomization } from '../../local/knative/manifests.ts';
import { describeIfAvailable } from '../helpers/requires.ts';
import { clusterProblems, numericImageUser, SYNC_WAVE, syncWave } from './cluster-rules.ts';
import { readDockerfile, type FinalStage } from './dockerfile.ts';
import { formatProblems, groupKind, type K8sObject } from './problem.ts';
import {
  findRenderer,
  NO_RENDERER,
  OVERLAYS,
  overlayDir,
  renderKustomization,
  REPO_ROOT,
  type Overlay,
} from './render.ts';

const run = promisify(execFile);

let base: K8sObject[];
let stage: FinalStage;
beforeAll(async () => {
  base = (await readKustomization(KNATIVE_DIR)) as K8sObject[];
  stage = await readDockerfile();
});

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not in the base`);
  return found;
}

/** Findings of the cluster rules after `change` edits a deep copy of the base. */
function findingsAfter(
  change: (get: (kind: string, name: string) => K8sObject, objects: K8sObject[]) => void,
  imageUser?: string,
): string {
  const objects = structuredClone(base);
  change((kind, name) => find(objects, kind, name), objects);
  return formatProblems(clusterProblems(objects, imageUser === undefined ? {} : { imageUser }));
}

const podSpec = (service: K8sObject) => service.spec.template.spec;

it("the image runs as a numeric user (the node image's node, 1000), which the kubelet can check against runAsNonRoot", () => {
  expect(stage.user).toBe('1000:1000');
  expect(numericImageUser(stage.user)).toBe(true);
  expect(numericImageUser('node')).toBe(false);
  expect(numericImageUser('0:0')).toBe(false);
});

describe('the cluster rules', () => {
  it('find nothing in the unmodified base', () => {
    expect(formatProblems(clusterProblems(base))).toBe('');
  });

  it('runAsNonRoot needs a numeric runAsUser, or a numeric USER in the image', () => {
    const strip = (get: (kind: string, name: string) => K8sObject) => {
      delete podSpec(get('Service', 'writer')).containers[0].securityContext.runAsUser;
    };
    expect(findingsAfter(strip)).toMatch(
      /Service\/writer spec\.template\.spec\.containers\[0\]\.securityContext: runAsNonRoot without a numeric runAsUser: the kubelet refuses/,
    );
    expect(findingsAfter(strip, 'node')).toMatch(
      /runAsNonRoot without a numeric runAsUser and the image's USER is node/,
    );
    expect(findingsAfter(strip, '1000:1000')).toBe('');
    expect(
      findingsAfter((get) => {
        podSpec(get('Service', 'tagger')).containers[0].securityContext.runAsUser = 0;
      }),
    ).toMatch(/Service\/tagger .*runAsUser: runAsNonRoot with runAsUser 0: must be a uid above 0/);
  });

  it('a Service leaving responseStartTimeoutSeconds to the cluster is cut at 300 s, and the Trigger waiting longer retries', () => {
    const findings = findingsAfter((get) => {
      delete podSpec(get('Service', 'compactor')).responseStartTimeoutSeconds;
    });
    expect(findings).toMatch(
      /Service\/compactor spec\.template\.spec\.responseStartTimeoutSeconds: floe: set it explicitly/,
    );
    expect(findings).toMatch(
      /Trigger\/compactor spec\.delivery\.timeout: 540s is not below the 300s after which Service\/compactor answers 504/,
    );
    expect(
      findingsAfter((get) => {
        podSpec(get('Service', 'auditor')).responseStartTimeoutSeconds = 400;
      }),
    ).toMatch(
      /Service\/auditor spec\.template\.spec\.responseStartTimeoutSeconds: 400 must be a whole number of seconds within 1-360/,
    );
    expect(
      findingsAfter((get) => {
        get('Trigger', 'publisher').spec.delivery.timeout = 'PT180S';
      }),
    ).toMatch(/Trigger\/publisher spec\.delivery\.timeout: 180s is not below the 180s/);
    expect(
      findingsAfter((get) => {
        const source = get('KafkaSource', 'parking-exit');
        source.spec.sink = { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'tagger' } };
        source.spec.delivery.timeout = 'PT60S';
      }),
    ).toMatch(
      /KafkaSource\/parking-exit spec\.delivery\.timeout: 60s is not below the 60s after which Service\/tagger answers 504/,
    );
  });

  it('a Trigger of PingSource ticks must not retry: the retry would run the job beside the abandoned run', () => {
    const findings = findingsAfter((get) => {
      get('Trigger', 'janitor-orphans').spec.delivery.retry = 2;
    });
    expect(findings).toMatch(
      /Trigger\/janitor-orphans spec\.delivery\.retry: receives the ticks of PingSource\/orphans with retry 2/,
    );
  });

  it('sync waves follow configuration → Services → Broker → Triggers and SinkBindings → sources', () => {
    const findings = findingsAfter((get) => {
      get('Broker', 'default').metadata.annotations[SYNC_WAVE] = '1';
      get('PingSource', 'compact').metadata.annotations[SYNC_WAVE] = '3';
      delete get('Service', 'tagger').metadata.annotations[SYNC_WAVE];
    });
    expect(findings).toMatch(
      /Broker\/default metadata\.annotations\.argocd\.argoproj\.io\/sync-wave: wave 1 must come after Service\/\w+ \(wave 1\): a Broker is not Ready until it resolves its dead-letter sink/,
    );
    expect(findings).toMatch(
      /PingSource\/compact .*wave 3 must come after (Trigger|SinkBinding)\/[\w-]+ \(wave 3\): an event a source sends before a Trigger exists/,
    );
    expect(findings).toMatch(
      /Service\/tagger .*wave 0 must come after ConfigMap\/[\w-]+ \(wave 0\): a Service needs the ConfigMaps and Secrets it reads/,
    );
    expect(
      findingsAfter((_, objects) => {
        objects.push({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'extra' } });
      }),
    ).toMatch(/StatefulSet\/extra .*no sync-wave rule for apps\/StatefulSet/);
  });

  it('an ordered KafkaSource is reported (ordered is also the default), naming the unordered Trigger behind a Broker', () => {
    const broker = { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } };
    const tagger = { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'tagger' } };
    const viaBroker = (ordered: boolean) =>
      findingsAfter((get, objects) => {
        const source = get('KafkaSource', 'parking-exit');
        delete source.spec.ordering;
        source.spec.sink = broker;
        // a Trigger for the source's events; ordered: every Trigger keeps the order
        if (ordered) {
          for (const object of objects)
            if (object.kind === 'Trigger')
              object.metadata.annotations['kafka.eventing.knative.dev/delivery.order'] = 'ordered';
        }
        objects.push({
          apiVersion: 'eventing.knative.dev/v1',
          kind: 'Trigger',
          metadata: {
            name: 'exit-records',
            annotations: {
              [SYNC_WAVE]: '3',
              'autoscaling.eventing.knative.dev/class': 'disabled',
              ...(ordered ? { 'kafka.eventing.knative.dev/delivery.order': 'ordered' } : {}),
            },
          },
          spec: {
            broker: 'default',
            filters: [{ exact: { floekafkatopic: 'parking-exit' } }],
            subscriber: tagger,
            delivery: { retry: 1, timeout: 'PT10S' },
          },
        });
      });
    expect(viaBroker(false)).toMatch(
      /KafkaSource\/parking-exit spec\.ordering: ordered \(the default when unset\) buys nothing: Trigger\/[\w-]+ delivers its events unordered anyway/,
    );
    expect(viaBroker(true)).not.toMatch(/spec\.ordering/);
    expect(
      findingsAfter((get) => {
        const source = get('KafkaSource', 'parking-sensors');
        source.spec.ordering = 'ordered';
        source.spec.sink = tagger;
      }),
    ).toMatch(
      /KafkaSource\/parking-sensors spec\.ordering: ordered \(the default when unset\) buys nothing: nothing in floe depends on event order/,
    );
  });

  it('a Broker without spec.config is reported', () => {
    expect(
      findingsAfter((get) => {
        delete get('Broker', 'default').spec.config;
      }),
    ).toMatch(/Broker\/default spec\.config: floe: name the config explicitly/);
  });

  it('Kafka consumer groups state their autoscaling class; KEDA-scaled Triggers no more consumers than partitions', () => {
    const findings = findingsAfter((get) => {
      delete get('Trigger', 'writer').metadata.annotations['autoscaling.eventing.knative.dev/class'];
      delete get('KafkaSource', 'parking-sensors').metadata.annotations['autoscaling.eventing.knative.dev/class'];
      Object.assign(get('Trigger', 'auditor').metadata.annotations, {
        'autoscaling.eventing.knative.dev/class': 'keda.autoscaling.knative.dev',
        'autoscaling.eventing.knative.dev/max-scale': '20',
      });
      get('Trigger', 'publisher').metadata.annotations['autoscaling.eventing.knative.dev/class'] =
        'keda.autoscaling.knative.dev';
    });
    expect(findings).toMatch(/Trigger\/writer .*class: floe: state the autoscaling class/);
    expect(findings).toMatch(/KafkaSource\/parking-sensors .*class: floe: state the autoscaling class/);
    expect(findings).toMatch(/Trigger\/auditor .*max-scale: 20 consumers for a Broker topic of 6 partitions/);
    expect(findings).toMatch(/Trigger\/publisher .*max-scale: floe: KEDA-scaled: set max-scale/);
  });

  it('a moving image tag is reported; a version tag or a digest is not', () => {
    const image = (value: string) =>
      findingsAfter((get) => {
        podSpec(get('Service', 'writer')).containers[0].image = value;
      });
    expect(image('ghcr.io/floe-dev/floe:dev')).toMatch(
      /Service\/writer .*image: ghcr\.io\/floe-dev\/floe:dev: pin a release version tag or a digest/,
    );
    expect(image('ghcr.io/floe-dev/floe')).toMatch(/pin a release version tag or a digest/);
    expect(image('ghcr.io/floe-dev/floe:0.2.0-rc.1')).toBe('');
    expect(image(`ghcr.io/floe-dev/floe@sha256:${'a'.repeat(64)}`)).toBe('');
  });
});

const renderer = await findRenderer();

describeIfAvailable(renderer ? undefined : NO_RENDERER)(
  `overlays rendered with ${renderer?.version ?? 'kustomize'}`,
  () => {
    const renders = {} as Record<Overlay, K8sObject[]>;
    beforeAll(async () => {
      for (const overlay of OVERLAYS) renders[overlay] = await renderKustomization(overlayDir(overlay));
    });
    const ofKind = (overlay: Overlay, kind: string) => renders[overlay].filter((object) => groupKind(object) === kind);

    describe.each(OVERLAYS)('%s', (overlay) => {
      it("passes the cluster rules with the Dockerfile's USER", () => {
        expect(formatProblems(clusterProblems(renders[overlay], { imageUser: stage.user }))).toBe('');
      });

      it('syncs in waves: configuration 0, Services 1, Broker 2, Triggers and SinkBindings 3, sources 4', () => {
        const waves: Record<string, number[]> = {};
        for (const object of renders[overlay]) (waves[object.kind] ??= []).push(syncWave(object)!);
        const distinct = Object.fromEntries(Object.entries(waves).map(([kind, list]) => [kind, [...new Set(list)]]));
        expect(distinct).toEqual({
          ConfigMap: [0],
          ...(overlay === 'dev' ? { Namespace: [0], Secret: [0] } : {}),
          Service: [1],
          Broker: [2],
          Trigger: [3],
          SinkBinding: [3],
          KafkaSource: [4],
          PingSource: [4],
        });
      });

      it('gives every Service a response-start timeout equal to its timeout, and maintenance Triggers no retries', () => {
        for (const service of ofKind(overlay, 'serving.knative.dev/Service')) {
          const spec = service.spec.template.spec;
          expect(spec.responseStartTimeoutSeconds, service.metadata.name).toBe(spec.timeoutSeconds);
          expect(spec.containers[0].securityContext).toMatchObject({
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
          });
        }
        for (const name of ['compactor', 'janitor-orphans', 'janitor-redrive']) {
          const trigger = ofKind(overlay, 'eventing.knative.dev/Trigger').find((t) => t.metadata.name === name)!;
          expect(trigger.spec.delivery.retry, name).toBe(0);
        }
        for (const source of ofKind(overlay, 'sources.knative.dev/KafkaSource'))
          expect(source.spec.ordering).toBe('unordered');
      });
    });

    it("names each overlay's Broker config: the InMemoryChannel template in dev, the Kafka config in prod", () => {
      const [dev] = ofKind('dev', 'eventing.knative.dev/Broker');
      expect(dev.metadata.annotations['eventing.knative.dev/broker.class']).toBe('MTChannelBasedBroker');
      expect(dev.spec.config).toEqual({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'config-br-default-channel',
        namespace: 'knative-eventing',
      });
      const [prod] = ofKind('prod', 'eventing.knative.dev/Broker');
      expect(prod.metadata.annotations['eventing.knative.dev/broker.class']).toBe('Kafka');
      expect(prod.spec.config).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', name: 'kafka-broker-config' });
      expect(ofKind('prod', 'v1/ConfigMap').map((c) => c.metadata.name)).toContain('kafka-broker-config');
    });

    it('scales every Kafka consumer group of prod with KEDA, and none of dev', () => {
      const consumers = (overlay: Overlay) => [
        ...ofKind(overlay, 'sources.knative.dev/KafkaSource'),
        ...ofKind(overlay, 'eventing.knative.dev/Trigger'),
      ];
      for (const object of consumers('prod')) {
        expect(object.metadata.annotations['autoscaling.eventing.knative.dev/class'], object.metadata.name).toBe(
          'keda.autoscaling.knative.dev',
        );
      }
      const partitions = Number(
        ofKind('prod', 'v1/ConfigMap').find((c) => c.metadata.name === 'kafka-broker-config')!.data[
          'default.topic.partitions'
        ],
      );
      for (const trigger of ofKind('prod', 'eventing.knative.dev/Trigger')) {
        expect(Number(trigger.metadata.annotations['autoscaling.eventing.knative.dev/max-scale'])).toBeLessThanOrEqual(
          partitions,
        );
      }
      for (const object of consumers('dev'))
        expect(object.metadata.annotations['autoscaling.eventing.knative.dev/class']).toBe('disabled');
    });

    it('keeps the writer to few pods, so batches stay large: the base 4, dev 1, prod 8', () => {
      const expected: Record<string, string> = { dev: '1', prod: '8', bi: '4' };
      for (const overlay of OVERLAYS) {
        const writer = ofKind(overlay, 'serving.knative.dev/Service').find((s) => s.metadata.name === 'writer')!;
        expect(writer.spec.template.metadata.annotations['autoscaling.knative.dev/max-scale'], overlay).toBe(
          expected[overlay],
        );
      }
    });

    it('deploys a released version of the image in every overlay', () => {
      for (const overlay of OVERLAYS) {
        for (const service of ofKind(overlay, 'serving.knative.dev/Service')) {
          expect(service.spec.template.spec.containers[0].image, `${overlay} ${service.metadata.name}`).toBe(
            'ghcr.io/floe-dev/floe:0.1.0',
          );
        }
      }
    });
  },
);

describe('the Kafka data plane settings (kustomize/cluster/kafka-data-plane.sh)', () => {
  const SCRIPT = path.join(REPO_ROOT, 'kustomize', 'cluster', 'kafka-data-plane.sh');
  const script = (...args: string[]) => run('bash', [SCRIPT, ...args], { timeout: 30_000 });
  const withInput = (input: string, ...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile('bash', [SCRIPT, ...args], { timeout: 30_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
      child.stdin!.end(input);
    });

  async function settings(): Promise<Record<string, string>> {
    const { stdout } = await script('--print');
    const result: Record<string, string> = {};
    for (const line of stdout.trim().split('\n')) {
      const [configMap, key, setting] = line.split(' ');
      const [property, value] = setting.split('=');
      result[`${configMap} ${key} ${property}`] = value;
    }
    return result;
  }

  it('sets the real ConfigMap keys of the Kafka Broker data plane, and enough in flight per consumer for the writer', async () => {
    const set = await settings();
    // eventing-kafka-broker data-plane/config/broker/100-config-kafka-broker-data-plane.yaml: the keys the
    // kafka-broker-dispatcher reads (consumer properties, and the Vert.x WebClient options of its HTTP sender)
    expect(Object.keys(set).sort()).toEqual([
      'config-kafka-broker-data-plane config-kafka-broker-consumer.properties max.poll.records',
      'config-kafka-broker-data-plane config-kafka-broker-webclient.properties maxPoolSize',
    ]);
    const maxPollRecords = Number(
      set['config-kafka-broker-data-plane config-kafka-broker-consumer.properties max.poll.records'],
    );
    const maxPoolSize = Number(
      set['config-kafka-broker-data-plane config-kafka-broker-webclient.properties maxPoolSize'],
    );
    // One consumer of the writer's (unordered) Trigger can hold a writer pod at its concurrency target, and the
    // HTTP pool is not the smaller limit.
    const writer = (await loadManifests()).services.find((service) => service.name === 'writer')!;
    expect(maxPollRecords).toBeGreaterThanOrEqual(writer.scaling.target!);
    expect(maxPoolSize).toBeGreaterThanOrEqual(maxPollRecords);
  });

  it('edits a properties file: the last line of a property wins, so earlier ones go; running it twice changes nothing', async () => {
    const args = ['--edit-properties', 'config-kafka-broker-data-plane', 'config-kafka-broker-consumer.properties'];
    const once = await withInput(
      'fetch.min.bytes=1\nmax.poll.records=50\n  max.poll.records = 7\nmax.poll.records.extra=3\n',
      ...args,
    );
    expect(once).toBe('fetch.min.bytes=1\nmax.poll.records.extra=3\nmax.poll.records=500\n');
    expect(await withInput(once, ...args)).toBe(once);
    expect(
      await withInput(
        '',
        '--edit-properties',
        'config-kafka-broker-data-plane',
        'config-kafka-broker-webclient.properties',
      ),
    ).toBe('maxPoolSize=500\n');
    await expect(script('--frobnicate')).rejects.toMatchObject({ code: 2 });
  });

  it('has --help, and knative/README.md documents the step with the same values', async () => {
    const { stdout } = await script('--help');
    expect(stdout).toMatch(/^Usage: kustomize\/cluster\/kafka-data-plane\.sh/);
    const readme = await readFile(path.join(REPO_ROOT, 'knative', 'README.md'), 'utf8');
    expect(readme).toContain('kustomize/cluster/kafka-data-plane.sh');
    for (const [where, value] of Object.entries(await settings()))
      expect(readme).toContain(`${where.split(' ')[2]}=${value}`);
  });
});
