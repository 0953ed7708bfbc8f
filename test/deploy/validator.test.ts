/**
 * The offline validator catches broken manifests: each case breaks one thing in an otherwise valid set of objects
 * (the base knative/ as the loader reads it, no kubectl needed) and expects the finding that names it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KNATIVE_DIR, parseYamlDocuments, readKustomization } from '../../local/knative/manifests.ts';
import { REPO_ROOT } from './render.ts';
import { cronScheduleProblem } from './cron.ts';
import { immutableFieldChanges } from './immutable.ts';
import { formatProblems, type K8sObject } from './problem.ts';
import { validateRender } from './validate.ts';

let base: K8sObject[];
beforeAll(async () => {
  base = (await readKustomization(KNATIVE_DIR)) as K8sObject[];
});

/** The base has no Secrets (each overlay or the operator supplies them). */
const options = { externalSecrets: ['floe-s3-credentials'] };

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not in the base`);
  return found;
}

/** Findings after `change` edits a deep copy of the base. */
function findingsAfter(change: (objects: K8sObject[], get: (kind: string, name: string) => K8sObject) => void): string {
  const objects = structuredClone(base);
  change(objects, (kind, name) => find(objects, kind, name));
  return formatProblems(validateRender(objects, options));
}

const container = (service: K8sObject) => service.spec.template.spec.containers[0];

it('finds nothing wrong in the unmodified base', () => {
  expect(formatProblems(validateRender(base, options))).toBe('');
});

describe('Trigger filters (webhook rules)', () => {
  it('rejects two dialects in one filters entry', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'writer').spec.filters = [
        { exact: { type: 'dev.floe.record.tagged' }, suffix: { source: '/tagger' } },
      ];
    });
    expect(findings).toMatch(/Trigger\/writer spec\.filters\[0\]: multiple dialects found \(exact, suffix\)/);
  });

  it('rejects an exact map with two attributes, invalid attribute names and empty values', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'compactor').spec.filters = [
        { exact: { type: 'dev.knative.sources.ping', floejob: 'compact' } },
        { exact: { floeJob: 'compact' } },
        { any: [{ suffix: { source: '' } }] },
      ];
    });
    expect(findings).toMatch(/spec\.filters\[0\]\.exact: Multiple items found, can have only one key-value/);
    expect(findings).toMatch(/spec\.filters\[1\]\.exact\.floeJob: attribute names must match/);
    expect(findings).toMatch(/spec\.filters\[2\]\.any\[0\]\.suffix\.source: value must be a non-empty string/);
  });

  it('rejects CESQL (the local broker cannot evaluate it)', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'publisher').spec.filters = [{ cesql: "type = 'dev.floe.batch.audited'" }];
    });
    expect(findings).toMatch(/Trigger\/publisher spec\.filters\[0\]\.cesql: floe: CESQL is not used/);
  });
});

describe('unknown fields (strict mode)', () => {
  it('in a Knative Service container (CRD schema)', () => {
    const findings = findingsAfter((_, get) => {
      container(get('Service', 'tagger')).imagePullPolcy = 'Always';
    });
    expect(findings).toMatch(
      /Service\/tagger spec\.template\.spec\.containers\[0\]\.imagePullPolcy: unknown field "imagePullPolcy"/,
    );
  });

  it('in a KafkaSource spec (CRD schema)', () => {
    const findings = findingsAfter((_, get) => {
      get('KafkaSource', 'parking-entry').spec.consumergroup = 'typo';
    });
    expect(findings).toMatch(/KafkaSource\/parking-entry spec\.consumergroup: unknown field "consumergroup"/);
  });

  it('in the parts of a Trigger the CRD leaves open (spec, delivery), as the webhook decodes them', () => {
    const findings = findingsAfter((_, get) => {
      const trigger = get('Trigger', 'auditor');
      trigger.spec.fitlers = trigger.spec.filters;
      trigger.spec.delivery.retries = 3;
    });
    expect(findings).toMatch(/Trigger\/auditor spec\.fitlers: unknown field "fitlers"/);
    expect(findings).toMatch(/Trigger\/auditor spec\.delivery\.retries: unknown field "retries"/);
  });

  it('in metadata, and a status kept in Git', () => {
    const findings = findingsAfter((_, get) => {
      get('PingSource', 'compact').metadata.annotation = { a: 'b' };
      get('Broker', 'default').status = { conditions: [] };
    });
    expect(findings).toMatch(/PingSource\/compact metadata\.annotation: unknown or server-managed field/);
    expect(findings).toMatch(/Broker\/default status: status is written by the controller/);
  });

  it('and a kind with neither a schema nor a structural check is reported, not skipped', () => {
    const findings = findingsAfter((objects) => {
      objects.push({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: {} });
    });
    expect(findings).toMatch(/StatefulSet\/x: no CRD schema and no structural check for apps\/v1 StatefulSet/);
  });
});

describe('routing (cross-references against the function contract)', () => {
  it('reports a Trigger filter that matches nothing its function expects', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'writer').spec.filters = [{ exact: { type: 'dev.floe.record.taged' } }];
    });
    expect(findings).toMatch(
      /tagger \(sink\) dev\.floe\.record\.tagged: dev\.floe\.record\.tagged reaches no Trigger of "writer"/,
    );
    expect(findings).toMatch(/Trigger\/writer spec\.filters: matches none of the events the pipeline produces/);
  });

  it('reports a subscriber that does not exist', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'auditor').spec.subscriber.ref.name = 'auditer';
    });
    expect(findings).toMatch(
      /Trigger\/auditor spec\.subscriber\.ref: subscriber Service "auditer" is not in the render/,
    );
  });

  it('reports a filter so broad that a function gets jobs that are not its own', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'compactor').spec.filters = [{ exact: { type: 'dev.knative.sources.ping' } }];
    });
    expect(findings).toMatch(
      /Trigger\/compactor spec\.filters: delivers dev\.knative\.sources\.ping from PingSource\/orphans to "compactor", but only janitor consumes it/,
    );
  });

  it('reports a loop: a function receiving its own reply, and a terminal event that is consumed', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'auditor').spec.filters = [{ prefix: { type: 'dev.floe.' } }];
    });
    expect(findings).toMatch(
      /Trigger\/auditor spec\.filters: delivers dev\.floe\.batch\.audited from auditor \(reply\) .* to "auditor", but only publisher consumes it/,
    );
    expect(findings).toMatch(
      /Trigger\/auditor spec\.filters: delivers dev\.floe\.batch\.published from publisher \(reply\) .* but it is terminal/,
    );
  });

  it('reports a PingSource that reaches no function, or has an unknown job', () => {
    const findings = findingsAfter((_, get) => {
      get('PingSource', 'redrive').spec.ceOverrides.extensions.floejob = 'redrive2';
      get('Trigger', 'janitor-orphans').spec.filters[1] = { exact: { floejob: 'orphan' } };
    });
    expect(findings).toMatch(
      /PingSource\/redrive spec\.ceOverrides\.extensions\.floejob: must be one of compact, expire, orphans, redrive/,
    );
    expect(findings).toMatch(/PingSource\/orphans: dev\.knative\.sources\.ping reaches no Trigger of "janitor"/);
  });

  it('reports a KafkaSource that feeds the Broker (or anything else) instead of the tagger itself', () => {
    const findings = findingsAfter((_, get) => {
      get('KafkaSource', 'parking-entry').spec.sink.ref = {
        apiVersion: 'eventing.knative.dev/v1',
        kind: 'Broker',
        name: 'default',
      };
      get('KafkaSource', 'parking-exit').spec.sink.ref.name = 'writer';
    });
    expect(findings).toMatch(
      /KafkaSource\/parking-entry spec\.sink: must be the Service "tagger" itself: behind a Broker a record's Kafka coordinates are the Broker topic's/,
    );
    expect(findings).toMatch(/KafkaSource\/parking-exit spec\.sink: must be the Service "tagger" itself/);
  });

  it('reports a KafkaSource that reads several topics or does not name its topic in floekafkatopic', () => {
    const findings = findingsAfter((_, get) => {
      get('KafkaSource', 'parking-sensors').spec.topics.push('parking-lights');
      delete get('KafkaSource', 'parking-exit').spec.ceOverrides;
    });
    expect(findings).toMatch(
      /KafkaSource\/parking-sensors spec\.ceOverrides\.extensions\.floekafkatopic: floe: read exactly one topic and name it here/,
    );
    expect(findings).toMatch(
      /KafkaSource\/parking-exit spec\.ceOverrides\.extensions\.floekafkatopic: floe: read exactly one topic/,
    );
  });

  it('reports a function that emits to K_SINK without a SinkBinding', () => {
    const findings = findingsAfter((objects) => {
      objects.splice(objects.indexOf(find(objects, 'SinkBinding', 'writer-sink')), 1);
      objects.splice(objects.indexOf(find(objects, 'SinkBinding', 'tagger-sink')), 1);
    });
    expect(findings).toMatch(/Service\/writer: emits events to K_SINK but no SinkBinding binds it to the Broker/);
    expect(findings).toMatch(/Service\/tagger: emits events to K_SINK but no SinkBinding binds it to the Broker/);
  });

  it('reports a Service whose FLOE_FUNCTION or image is not the contract', () => {
    const findings = findingsAfter((_, get) => {
      container(get('Service', 'auditor')).env[0].value = 'publisher';
      container(get('Service', 'janitor')).image = 'ghcr.io/floe-dev/floe:latest';
    });
    expect(findings).toMatch(/Service\/auditor env\.FLOE_FUNCTION: must be "auditor", got "publisher"/);
    expect(findings).toMatch(/Service\/janitor image: pin a tag \(not latest\) or a digest/);
  });
});

describe('configuration references', () => {
  it('reports a ConfigMap, Secret or mount the Service refers to but the render lacks', () => {
    const findings = findingsAfter((_, get) => {
      const publisher = get('Service', 'publisher');
      container(publisher).envFrom[0].configMapRef.name = 'floe-config-stale';
      container(publisher).envFrom.push({ secretRef: { name: 'floe-extra' } });
      get('Service', 'tagger').spec.template.spec.volumes[0].configMap.name = 'floe-pipeline-stale';
      container(get('Service', 'compactor')).volumeMounts[0].mountPath = '/etc/other';
    });
    expect(findings).toMatch(
      /Service\/publisher spec\.template\.spec\.containers\[0\]\.envFrom\[0\]: ConfigMap "floe-config-stale" is not in the render/,
    );
    expect(findings).toMatch(
      /Service\/publisher .*: Secret "floe-extra" is neither in the render nor declared as supplied out of band/,
    );
    expect(findings).toMatch(
      /Service\/tagger spec\.template\.spec\.volumes\[0\]: ConfigMap "floe-pipeline-stale" is not in the render/,
    );
    expect(findings).toMatch(
      /Service\/compactor spec\.template\.spec\.volumes: FLOE_CONFIG=\/etc\/floe\/pipeline\.yaml but no ConfigMap is mounted at \/etc\/floe/,
    );
  });
});

describe('pipeline configuration', () => {
  const pipeline = (objects: K8sObject[]) =>
    objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === 'floe-pipeline')!;

  it('reports a pipeline.yaml the functions would refuse at start', () => {
    const findings = findingsAfter((objects) => {
      const file = pipeline(objects).data;
      file['pipeline.yaml'] = file['pipeline.yaml'].replace('linger: 2s', 'lingr: 2s');
    });
    expect(findings).toMatch(/ConfigMap\/floe-pipeline pipeline\.yaml: invalid pipeline configuration/);
  });

  it('reports a topic that is read but not configured, and one configured but not read', () => {
    const findings = findingsAfter((_, get) => {
      get('KafkaSource', 'parking-sensors').spec.topics = ['parking-lights'];
      get('KafkaSource', 'parking-sensors').spec.ceOverrides.extensions.floekafkatopic = 'parking-lights';
    });
    expect(findings).toMatch(
      /ConfigMap\/floe-pipeline pipeline\.yaml topics: KafkaSource topic parking-lights has no entry/,
    );
    expect(findings).toMatch(
      /ConfigMap\/floe-pipeline pipeline\.yaml topics\.parking-sensors: configured, but no KafkaSource reads this topic/,
    );
  });
});

describe('Knative Service rules', () => {
  it('reports timeouts, scale annotations, ports, probes and writable mounts the webhook refuses', () => {
    const findings = findingsAfter((_, get) => {
      const tagger = get('Service', 'tagger');
      tagger.spec.template.spec.timeoutSeconds = 900;
      tagger.spec.template.metadata.annotations['autoscaling.knative.dev/max-scale'] = 'ten';
      tagger.spec.template.metadata.annotations['autoscaling.knative.dev/metric'] = 'cpu';
      container(tagger).ports = [{ containerPort: 9090 }];
      container(tagger).readinessProbe.httpGet.port = 9000;
      container(tagger).volumeMounts[0].readOnly = false;
      container(tagger).resources.requests.cpu = '100 m';
      tagger.spec.template.spec.containerConcurrency = 20;
    });
    expect(findings).toMatch(/timeoutSeconds: must be within 0-600/);
    expect(findings).toMatch(/autoscaling\.knative\.dev\/max-scale: must be a non-negative integer, got "ten"/);
    expect(findings).toMatch(/autoscaling\.knative\.dev\/metric: must be one of concurrency, rps/);
    expect(findings).toMatch(/ports\[0\]\.containerPort: 9090 is a reserved port/);
    expect(findings).toMatch(/readinessProbe: port 9000 must be the container port 9090 or omitted/);
    expect(findings).toMatch(/volumeMounts\[0\]\.readOnly: volume mount should be readOnly/);
    expect(findings).toMatch(/resources\.requests\.cpu: not a quantity/);
    expect(findings).toMatch(
      /autoscaling\.knative\.dev\/target: floe: soft target 50 above the hard containerConcurrency 20/,
    );
  });

  it('reports a Trigger timeout longer than the Service allows', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'auditor').spec.delivery.timeout = 'PT10M';
    });
    expect(findings).toMatch(/Trigger\/auditor spec\.delivery\.timeout: 600s exceeds "auditor" timeoutSeconds 360/);
  });

  it('reports writer settings that break group commit', () => {
    const findings = findingsAfter((_, get) => {
      const trigger = get('Trigger', 'writer');
      trigger.spec.delivery.timeout = 'PT5S';
      trigger.metadata.annotations['kafka.eventing.knative.dev/delivery.order'] = 'ordered';
      get('Service', 'writer').spec.template.spec.containerConcurrency = 10;
    });
    expect(findings).toMatch(
      /Trigger\/writer spec\.delivery\.timeout: 5000ms leaves too little beyond FLOE_BATCH_LINGER_MS=2000/,
    );
    expect(findings).toMatch(
      /Trigger\/writer metadata\.annotations: ordered delivery allows one in-flight event per partition/,
    );
    expect(findings).toMatch(
      /Service\/writer spec\.template\.spec\.containerConcurrency: group commit holds requests open/,
    );
  });
});

describe('sources, Broker and delivery', () => {
  it('reports PingSource schedule, time zone and payload errors', () => {
    const findings = findingsAfter((_, get) => {
      get('PingSource', 'compact').spec.schedule = '*/5 * * *';
      get('PingSource', 'orphans').spec.timezone = 'Mars/Olympus';
      get('PingSource', 'redrive').spec.data = '["redrive"]';
    });
    expect(findings).toMatch(/PingSource\/compact spec\.schedule: expected exactly 5 fields/);
    expect(findings).toMatch(/PingSource\/orphans spec\.timezone: provided bad location Mars\/Olympus/);
    expect(findings).toMatch(/PingSource\/redrive spec\.data: contentType application\/json needs a JSON object/);
  });

  it('validates cron schedules the way robfig/cron ParseStandard does', () => {
    for (const valid of [
      '7 * * * *',
      '*/5 * * * *',
      '30 3 * * mon-fri',
      '0 0 1,15 jan,jul ?',
      '@hourly',
      '0-59/15 0-23 1-31 1-12 0-6',
    ]) {
      expect(cronScheduleProblem(valid), valid).toBeUndefined();
    }
    expect(cronScheduleProblem('@every 5m')).toBe('unsupported descriptor @every');
    expect(cronScheduleProblem('0 * * * * *')).toMatch(/expected exactly 5 fields/);
    expect(cronScheduleProblem('60 * * * *')).toMatch(/minute "60": out of range 0-59/);
    expect(cronScheduleProblem('0 5-2 * * *')).toMatch(/beyond end of range/);
    expect(cronScheduleProblem('0 * * * 7')).toMatch(/day of week "7": out of range 0-6/);
    expect(cronScheduleProblem('*/0 * * * *')).toMatch(/step must be positive/);
    expect(cronScheduleProblem('CRON_TZ=UTC 0 * * * *')).toMatch(/spec\.timezone/);
  });

  it('reports delivery durations that are not ISO-8601 (and that the loader cannot read the render)', () => {
    const findings = findingsAfter((_, get) => {
      get('Trigger', 'publisher').spec.delivery.backoffDelay = '500ms';
    });
    expect(findings).toMatch(/Trigger\/publisher spec\.delivery\.backoffDelay: not an ISO-8601 duration: "500ms"/);
    expect(findings).toMatch(/render: not readable by local\/knative\/manifests\.ts/);
  });

  it('reports missing dead-letter sinks and an unset Broker class', () => {
    const findings = findingsAfter((_, get) => {
      delete get('KafkaSource', 'parking-sensors').spec.delivery.deadLetterSink;
      delete get('Broker', 'default').metadata.annotations;
    });
    expect(findings).toMatch(
      /KafkaSource\/parking-sensors spec\.delivery\.deadLetterSink: must be "deadletter" so nothing is lost/,
    );
    expect(findings).toMatch(
      /Broker\/default metadata\.annotations: floe: set eventing\.knative\.dev\/broker\.class explicitly/,
    );
  });

  it('reports a KafkaSource without an explicit consumer group or with a bad key type', () => {
    const findings = findingsAfter((_, get) => {
      delete get('KafkaSource', 'parking-entry').spec.consumerGroup;
      get('KafkaSource', 'parking-sensors').metadata.labels['kafkasources.sources.knative.dev/key-type'] = 'long';
    });
    expect(findings).toMatch(/KafkaSource\/parking-entry spec\.consumerGroup: floe: set it explicitly/);
    expect(findings).toMatch(
      /KafkaSource\/parking-sensors metadata\.labels\.kafkasources\.sources\.knative\.dev\/key-type: must be one of string, int, float, byte-array/,
    );
  });
});

describe('immutable fields', () => {
  it('reports a changed consumer group, Broker class and Trigger broker between two renders', () => {
    const after = structuredClone(base);
    find(after, 'KafkaSource', 'parking-entry').spec.consumerGroup = 'floe-parking-entry-v2';
    find(after, 'Broker', 'default').metadata.annotations['eventing.knative.dev/broker.class'] = 'MTChannelBasedBroker';
    find(after, 'Trigger', 'writer').spec.broker = 'other';
    const findings = formatProblems(immutableFieldChanges(base, after));
    expect(findings).toMatch(
      /KafkaSource\/parking-entry spec\.consumerGroup: immutable field changed \("floe-parking-entry" -> "floe-parking-entry-v2"\)/,
    );
    expect(findings).toMatch(
      /Broker\/default metadata\.annotations\.eventing\.knative\.dev\/broker\.class: immutable field changed/,
    );
    expect(findings).toMatch(/Trigger\/writer spec\.broker: immutable field changed/);
    expect(immutableFieldChanges(base, structuredClone(base))).toEqual([]);
  });
});

describe('workloads of the bi component (Deployments, Job, Services, claim)', () => {
  const BI_DIR = path.join(REPO_ROOT, 'kustomize', 'components', 'bi');
  let bi: K8sObject[];
  beforeAll(async () => {
    // the component's objects as written, with the ConfigMaps its generators make (unsuffixed: no renderer here)
    bi = [];
    for (const file of ['trino.yaml', 'superset.yaml', 'superset-dashboard-import.yaml'])
      bi.push(...(parseYamlDocuments(await readFile(path.join(BI_DIR, file), 'utf8'), file) as K8sObject[]));
    const configMap = (name: string, data: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
      data,
    });
    bi.push(
      configMap('trino-etc', { 'config.properties': '', 'jvm.config': '', 'node.properties': '' }),
      configMap('trino-catalog', { 'floe.properties': '' }),
      configMap('superset-config', { 'superset_config.py': '' }),
      configMap('floe-superset-dashboard', { 'import_dashboard.py': '' }),
    );
  });
  const biOptions = { externalSecrets: [...options.externalSecrets, 'floe-superset'] };
  const get = (objects: K8sObject[], apiVersion: string, kind: string, name: string) =>
    objects.find((o) => o.apiVersion === apiVersion && o.kind === kind && o.metadata.name === name)!;

  function biFindingsAfter(change: (get: (apiVersion: string, kind: string, name: string) => K8sObject) => void) {
    const objects = structuredClone([...base, ...bi]);
    change((apiVersion, kind, name) => get(objects, apiVersion, kind, name));
    return formatProblems(validateRender(objects, biOptions));
  }
  const trino = (g: (apiVersion: string, kind: string, name: string) => K8sObject) =>
    g('apps/v1', 'Deployment', 'trino').spec.template.spec;

  it('finds nothing wrong in the component as written', () => {
    expect(biFindingsAfter(() => {})).toBe('');
  });

  it('wants a pinned image, probes, memory and a numeric non-root user in a long-running container', () => {
    const findings = biFindingsAfter((g) => {
      const [container] = trino(g).containers;
      container.image = 'trinodb/trino:latest';
      delete container.livenessProbe;
      delete container.resources.limits;
      delete trino(g).securityContext.runAsUser;
      g('apps/v1', 'Deployment', 'superset').spec.template.spec.containers[0].image = 'apache/superset';
    });
    expect(findings).toMatch(
      /Deployment\/trino spec\.template\.spec\.containers\[0\]\.image: trinodb\/trino:latest: floe: pin/,
    );
    expect(findings).toMatch(
      /Deployment\/superset spec\.template\.spec\.containers\[0\]\.image: apache\/superset: floe: pin/,
    );
    expect(findings).toMatch(
      /containers\[0\]: floe: a long-running container needs a readinessProbe and a livenessProbe/,
    );
    expect(findings).toMatch(/containers\[0\]\.resources: floe: request and limit memory/);
    expect(findings).toMatch(
      /containers\[0\]\.securityContext\.runAsUser: floe: runAsNonRoot needs a numeric runAsUser/,
    );
  });

  it('reports unknown fields, a probe on a port the container does not have, a selector that misses its template', () => {
    const findings = biFindingsAfter((g) => {
      const [container] = trino(g).containers;
      container.imagePullPolcy = 'Always';
      container.livenessProbe.httpGet.port = 'htp';
      g('apps/v1', 'Deployment', 'superset').spec.selector.matchLabels['app.kubernetes.io/name'] = 'supserset';
      g('batch/v1', 'Job', 'superset-dashboard-import').spec.backofLimit = 3;
    });
    expect(findings).toMatch(/Deployment\/trino spec\.template\.spec\.containers\[0\]\.imagePullPolcy: unknown field/);
    expect(findings).toMatch(
      /containers\[0\]\.livenessProbe: port "htp" is neither a number nor a port of the container/,
    );
    expect(findings).toMatch(
      /Deployment\/superset spec\.template\.metadata\.labels: selector .* does not select the template/,
    );
    expect(findings).toMatch(/Job\/superset-dashboard-import spec\.backofLimit: unknown field "backofLimit"/);
  });

  it('resolves ConfigMaps, Secrets, their keys and claims by name, and Services to pods and ports', () => {
    const findings = biFindingsAfter((g) => {
      // what a Deployment would read if kustomize had not rewritten a generated name
      trino(g).volumes.find((v: K8sObject) => v.name === 'catalog').configMap.name = 'trino-catalog-5f8d7c9b2k';
      trino(g).containers[0].envFrom[1].secretRef.name = 'floe-s4-credentials';
      const superset = g('apps/v1', 'Deployment', 'superset').spec.template.spec;
      superset.volumes.find((v: K8sObject) => v.name === 'home').persistentVolumeClaim.claimName = 'superset-data';
      g('v1', 'Service', 'trino').spec.ports[0].targetPort = 'https';
      g('v1', 'Service', 'superset').spec.selector = { 'app.kubernetes.io/name': 'superset-web' };
    });
    expect(findings).toMatch(
      /Deployment\/trino spec\.template\.spec\.volumes\[1\]: ConfigMap "trino-catalog-5f8d7c9b2k" is not in the render/,
    );
    expect(findings).toMatch(
      /Deployment\/trino .*envFrom\[1\]: Secret "floe-s4-credentials" is neither in the render nor declared/,
    );
    expect(findings).toMatch(
      /Deployment\/superset spec\.template\.spec\.volumes\[1\]: PersistentVolumeClaim "superset-data" is not in the render/,
    );
    expect(findings).toMatch(
      /Service\/trino spec\.ports\[0\]\.targetPort: no container of the selected pods has port https/,
    );
    expect(findings).toMatch(/Service\/superset spec\.selector: selects no Deployment of the render/);
    const missingKey = formatProblems(
      validateRender(
        [
          ...base,
          ...bi,
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'floe-superset' },
            stringData: { SECRET_KEY: 'k', ADMIN_USERNAME: 'admin' },
          },
        ],
        options,
      ),
    );
    expect(missingKey).toMatch(
      /Job\/superset-dashboard-import .*env\[2\]: Secret "floe-superset" has no key ADMIN_PASSWORD/,
    );
  });

  it('bounds the Job, and keeps a claim in the wave of the Deployment that mounts it', () => {
    const findings = biFindingsAfter((g) => {
      const job = g('batch/v1', 'Job', 'superset-dashboard-import');
      delete job.spec.activeDeadlineSeconds;
      job.spec.template.spec.restartPolicy = 'Always';
      delete g('v1', 'PersistentVolumeClaim', 'superset-home').metadata.annotations;
    });
    expect(findings).toMatch(/Job\/superset-dashboard-import spec\.activeDeadlineSeconds: floe: bound the Job/);
    expect(findings).toMatch(
      /Job\/superset-dashboard-import spec\.template\.spec\.restartPolicy: a Job needs Never or OnFailure/,
    );
    expect(findings).toMatch(
      /PersistentVolumeClaim\/superset-home metadata\.annotations\.argocd\.argoproj\.io\/sync-wave: wave 0, but Deployment\/superset that mounts it is in wave 1/,
    );
  });

  it('places a Job that is not an Argo CD hook nowhere in the sync waves', () => {
    const findings = biFindingsAfter((g) => {
      delete g('batch/v1', 'Job', 'superset-dashboard-import').metadata.annotations;
    });
    expect(findings).toMatch(/Job\/superset-dashboard-import .*no sync-wave rule for batch\/Job/);
  });
});
