/**
 * The plain Kubernetes objects of the optional `bi` component (kustomize/components/bi: Trino and Superset) have no
 * schema in the reference (test/fixtures/knative-crds holds Knative's CRDs only), so they get a structural check
 * here, as ConfigMaps and Secrets do in webhook-rules.ts: apiVersion, the required fields and the known field names
 * of the parts floe writes (Deployment, Job, Service, PersistentVolumeClaim, the pod template and its containers,
 * probes and volumes), plus floe's policies for a long-running workload (marked "floe:"): a pinned image, readiness
 * and liveness probes, resources, a non-root numeric user.
 *
 * workloadReferenceProblems checks a whole render: what a pod template reads (ConfigMaps, Secrets and their keys,
 * claims) exists under its rendered — hash-suffixed — name, and every Service selects a pod and names its ports.
 */
import { groupKind, isRecord, problem, type K8sObject, type Problem } from './problem.ts';

type Report = (path: string, message: string) => void;

export const WORKLOAD_RULES: Record<string, ((object: K8sObject, report: Report) => void)[]> = {
  'apps/Deployment': [deploymentStructure],
  'batch/Job': [jobStructure],
  'v1/Service': [serviceStructure],
  'v1/PersistentVolumeClaim': [claimStructure],
};

const WORKLOAD_KINDS = new Set(['apps/Deployment', 'batch/Job']);

/** Argo CD runs a hook in its own phase (PreSync, PostSync…), outside the sync waves of ordinary resources. */
export const ARGOCD_HOOK = 'argocd.argoproj.io/hook';

function unknownKeys(value: unknown, allowed: readonly string[], path: string, report: Report): void {
  if (!isRecord(value)) return;
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) report(path ? `${path}.${key}` : key, `unknown field "${key}"`);
}

function expectApiVersion(object: K8sObject, apiVersion: string, report: Report): void {
  if (object.apiVersion !== apiVersion) report('apiVersion', `expected ${apiVersion}`);
}

const positiveInteger = (value: unknown) => Number.isInteger(value) && (value as number) > 0;
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;

// ---------------------------------------------------------------------------------------------------------------
// Objects

function deploymentStructure(deployment: K8sObject, report: Report): void {
  expectApiVersion(deployment, 'apps/v1', report);
  unknownKeys(deployment, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  const spec = deployment.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(
    spec,
    [
      'replicas',
      'selector',
      'template',
      'strategy',
      'minReadySeconds',
      'revisionHistoryLimit',
      'progressDeadlineSeconds',
      'paused',
    ],
    'spec',
    report,
  );
  if (spec.replicas !== undefined && !(Number.isInteger(spec.replicas) && spec.replicas >= 0))
    report('spec.replicas', 'must be an integer >= 0');
  if (spec.strategy !== undefined && !['RollingUpdate', 'Recreate'].includes(spec.strategy?.type))
    report('spec.strategy.type', 'must be RollingUpdate or Recreate');
  const matchLabels = spec.selector?.matchLabels;
  if (!isRecord(matchLabels) || Object.keys(matchLabels).length === 0)
    report('spec.selector.matchLabels', 'required (apps/v1 has no default selector)');
  else {
    const labels = spec.template?.metadata?.labels ?? {};
    for (const [key, value] of Object.entries(matchLabels))
      if (labels[key] !== value)
        report('spec.template.metadata.labels', `selector ${key}=${String(value)} does not select the template`);
  }
  podTemplateStructure(spec.template, 'spec.template', { longRunning: true }, report);
}

function jobStructure(job: K8sObject, report: Report): void {
  expectApiVersion(job, 'batch/v1', report);
  unknownKeys(job, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  const spec = job.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(
    spec,
    [
      'template',
      'backoffLimit',
      'activeDeadlineSeconds',
      'ttlSecondsAfterFinished',
      'completions',
      'parallelism',
      'completionMode',
      'suspend',
      'podFailurePolicy',
      'manualSelector',
      'selector',
    ],
    'spec',
    report,
  );
  for (const field of ['backoffLimit', 'ttlSecondsAfterFinished'])
    if (spec[field] !== undefined && !(Number.isInteger(spec[field]) && spec[field] >= 0))
      report(`spec.${field}`, 'must be an integer >= 0');
  if (spec.activeDeadlineSeconds !== undefined && !positiveInteger(spec.activeDeadlineSeconds))
    report('spec.activeDeadlineSeconds', 'must be a positive integer');
  if (spec.activeDeadlineSeconds === undefined)
    report('spec.activeDeadlineSeconds', 'floe: bound the Job, so a dependency that never comes up fails it');
  const restartPolicy = spec.template?.spec?.restartPolicy;
  if (!['Never', 'OnFailure'].includes(restartPolicy))
    report('spec.template.spec.restartPolicy', 'a Job needs Never or OnFailure');
  podTemplateStructure(spec.template, 'spec.template', { longRunning: false }, report);
}

function serviceStructure(service: K8sObject, report: Report): void {
  expectApiVersion(service, 'v1', report);
  unknownKeys(service, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  const spec = service.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(
    spec,
    ['type', 'selector', 'ports', 'clusterIP', 'sessionAffinity', 'publishNotReadyAddresses', 'ipFamilyPolicy'],
    'spec',
    report,
  );
  const type = spec.type ?? 'ClusterIP';
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type))
    report('spec.type', `unknown type ${JSON.stringify(type)}`);
  else if (type !== 'ClusterIP')
    report('spec.type', 'floe: ClusterIP — reachable inside the cluster only, like the functions (no authentication)');
  if (!isRecord(spec.selector) || Object.keys(spec.selector).length === 0)
    report('spec.selector', 'required: a Service without a selector has no endpoints unless you manage them');
  const ports: unknown[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (ports.length === 0) report('spec.ports', 'at least one port');
  ports.forEach((port, i) => {
    const path = `spec.ports[${i}]`;
    if (!isRecord(port)) return report(path, 'must be a mapping');
    unknownKeys(port, ['name', 'port', 'targetPort', 'protocol', 'appProtocol', 'nodePort'], path, report);
    if (!isPort(port.port)) report(`${path}.port`, 'must be a port number 1-65535');
    if (ports.length > 1 && !port.name) report(`${path}.name`, 'required when a Service has several ports');
    const target = port.targetPort;
    if (target !== undefined && !isPort(target) && !(typeof target === 'string' && IANA_SVC_NAME.test(target)))
      report(`${path}.targetPort`, 'must be a port number or a port name');
  });
}

function claimStructure(claim: K8sObject, report: Report): void {
  expectApiVersion(claim, 'v1', report);
  unknownKeys(claim, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  const spec = claim.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(
    spec,
    ['accessModes', 'resources', 'storageClassName', 'volumeMode', 'selector', 'volumeName', 'dataSource'],
    'spec',
    report,
  );
  const modes: unknown = spec.accessModes;
  if (!Array.isArray(modes) || modes.length === 0) report('spec.accessModes', 'at least one access mode');
  else
    for (const mode of modes)
      if (!['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'].includes(String(mode)))
        report('spec.accessModes', `unknown access mode ${JSON.stringify(mode)}`);
  const storage = spec.resources?.requests?.storage;
  if (storage === undefined) report('spec.resources.requests.storage', 'required');
  else if (!QUANTITY.test(String(storage))) report('spec.resources.requests.storage', 'not a quantity');
}

// ---------------------------------------------------------------------------------------------------------------
// Pod template

const POD_SPEC_FIELDS = [
  'containers',
  'initContainers',
  'volumes',
  'restartPolicy',
  'securityContext',
  'serviceAccountName',
  'automountServiceAccountToken',
  'terminationGracePeriodSeconds',
  'nodeSelector',
  'affinity',
  'tolerations',
  'imagePullSecrets',
  'enableServiceLinks',
];
const POD_SECURITY_FIELDS = [
  'runAsNonRoot',
  'runAsUser',
  'runAsGroup',
  'fsGroup',
  'seccompProfile',
  'supplementalGroups',
];
const CONTAINER_FIELDS = [
  'name',
  'image',
  'imagePullPolicy',
  'command',
  'args',
  'workingDir',
  'ports',
  'env',
  'envFrom',
  'volumeMounts',
  'resources',
  'readinessProbe',
  'livenessProbe',
  'startupProbe',
  'securityContext',
  'lifecycle',
];
const CONTAINER_SECURITY_FIELDS = [
  'allowPrivilegeEscalation',
  'capabilities',
  'readOnlyRootFilesystem',
  'runAsNonRoot',
  'runAsUser',
  'runAsGroup',
  'seccompProfile',
  'privileged',
];
const PROBE_FIELDS = [
  'httpGet',
  'exec',
  'tcpSocket',
  'grpc',
  'initialDelaySeconds',
  'periodSeconds',
  'timeoutSeconds',
  'failureThreshold',
  'successThreshold',
  'terminationGracePeriodSeconds',
];
const PROBE_HANDLERS = ['httpGet', 'exec', 'tcpSocket', 'grpc'];
const VOLUME_SOURCES = ['configMap', 'secret', 'emptyDir', 'persistentVolumeClaim', 'projected'];

function podTemplateStructure(
  template: unknown,
  path: string,
  options: { longRunning: boolean },
  report: Report,
): void {
  if (!isRecord(template)) return report(path, 'missing');
  unknownKeys(template, ['metadata', 'spec'], path, report);
  const spec = template.spec;
  if (!isRecord(spec)) return report(`${path}.spec`, 'missing');
  unknownKeys(spec, POD_SPEC_FIELDS, `${path}.spec`, report);
  unknownKeys(spec.securityContext, POD_SECURITY_FIELDS, `${path}.spec.securityContext`, report);
  const volumes = new Map<string, K8sObject>();
  ((spec.volumes ?? []) as K8sObject[]).forEach((volume, i) => {
    const at = `${path}.spec.volumes[${i}]`;
    if (!DNS_LABEL.test(String(volume.name ?? ''))) report(`${at}.name`, 'must be a DNS label');
    else if (volumes.has(volume.name)) report(`${at}.name`, `volume "${volume.name}" is defined twice`);
    volumes.set(volume.name, volume);
    unknownKeys(volume, ['name', ...VOLUME_SOURCES], at, report);
    const sources = VOLUME_SOURCES.filter((source) => volume[source] !== undefined);
    if (sources.length !== 1) report(at, `needs exactly one source (${VOLUME_SOURCES.join(', ')})`);
    if (volume.configMap && !volume.configMap.name) report(`${at}.configMap.name`, 'required');
    if (volume.secret && !volume.secret.secretName) report(`${at}.secret.secretName`, 'required');
    if (volume.persistentVolumeClaim && !volume.persistentVolumeClaim.claimName)
      report(`${at}.persistentVolumeClaim.claimName`, 'required');
  });
  const containers: K8sObject[] = Array.isArray(spec.containers) ? spec.containers : [];
  if (containers.length === 0) report(`${path}.spec.containers`, 'at least one container');
  const initContainers: K8sObject[] = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  const names = new Set<string>();
  const podNonRoot = spec.securityContext?.runAsNonRoot === true;
  for (const [list, kind] of [
    [containers, 'containers'],
    [initContainers, 'initContainers'],
  ] as const) {
    list.forEach((container, i) => {
      const at = `${path}.spec.${kind}[${i}]`;
      if (names.has(container.name)) report(`${at}.name`, `container name "${container.name}" is used twice`);
      names.add(container.name);
      containerStructure(container, at, volumes, report);
      // an init container runs to completion: probes are not allowed on it, and it needs none
      const probed = options.longRunning && kind === 'containers';
      if (kind === 'initContainers')
        for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'])
          if (container[probe] !== undefined) report(`${at}.${probe}`, 'not allowed on an init container');
      if (probed && (!container.readinessProbe || !container.livenessProbe))
        report(at, 'floe: a long-running container needs a readinessProbe and a livenessProbe');
      if (!container.resources?.requests?.memory || !container.resources?.limits?.memory)
        report(`${at}.resources`, 'floe: request and limit memory');
      const nonRoot = container.securityContext?.runAsNonRoot ?? podNonRoot;
      const user = container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
      if (nonRoot !== true) report(`${at}.securityContext`, 'floe: runAsNonRoot');
      // kubelet verifyRunAsNonRoot: an image USER that is a name cannot be verified, so it wants a uid
      else if (!(Number.isInteger(user) && user > 0))
        report(`${at}.securityContext.runAsUser`, 'floe: runAsNonRoot needs a numeric runAsUser above 0');
      if (container.securityContext?.allowPrivilegeEscalation !== false)
        report(`${at}.securityContext.allowPrivilegeEscalation`, 'floe: false');
    });
  }
}

function containerStructure(container: K8sObject, path: string, volumes: Map<string, K8sObject>, report: Report) {
  unknownKeys(container, CONTAINER_FIELDS, path, report);
  unknownKeys(container.securityContext, CONTAINER_SECURITY_FIELDS, `${path}.securityContext`, report);
  if (!DNS_LABEL.test(String(container.name ?? ''))) report(`${path}.name`, 'must be a DNS label');
  imageRule(container.image, `${path}.image`, report);
  for (const field of ['command', 'args'])
    if (container[field] !== undefined && !isStringList(container[field]))
      report(`${path}.${field}`, 'must be a list of strings');
  const portNames = new Set<string>();
  ((container.ports ?? []) as K8sObject[]).forEach((port, i) => {
    unknownKeys(port, ['name', 'containerPort', 'protocol'], `${path}.ports[${i}]`, report);
    if (!isPort(port.containerPort)) report(`${path}.ports[${i}].containerPort`, 'must be a port number 1-65535');
    if (port.name !== undefined) {
      if (!IANA_SVC_NAME.test(port.name) || port.name.length > 15)
        report(`${path}.ports[${i}].name`, 'must be an IANA service name (at most 15 characters)');
      portNames.add(port.name);
    }
  });
  for (const probeName of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = container[probeName];
    if (probe === undefined) continue;
    const at = `${path}.${probeName}`;
    unknownKeys(probe, PROBE_FIELDS, at, report);
    const handlers = PROBE_HANDLERS.filter((handler) => probe[handler] !== undefined);
    if (handlers.length !== 1) report(at, `needs exactly one of ${PROBE_HANDLERS.join(', ')}`);
    const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
    if (port !== undefined && !isPort(port) && !portNames.has(port))
      report(`${at}`, `port ${JSON.stringify(port)} is neither a number nor a port of the container`);
    if (probe.httpGet && !String(probe.httpGet.path ?? '').startsWith('/')) report(`${at}.httpGet.path`, 'required');
    if (probe.exec && !(isStringList(probe.exec.command) && probe.exec.command.length > 0))
      report(`${at}.exec.command`, 'must be a non-empty list of strings');
  }
  ((container.volumeMounts ?? []) as K8sObject[]).forEach((mount, i) => {
    const at = `${path}.volumeMounts[${i}]`;
    unknownKeys(mount, ['name', 'mountPath', 'readOnly', 'subPath'], at, report);
    if (!volumes.has(mount.name)) report(at, `no volume "${mount.name}" in the pod`);
    if (!String(mount.mountPath ?? '').startsWith('/')) report(`${at}.mountPath`, 'must be an absolute path');
  });
  ((container.env ?? []) as K8sObject[]).forEach((variable, i) => {
    const at = `${path}.env[${i}]`;
    unknownKeys(variable, ['name', 'value', 'valueFrom'], at, report);
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(variable.name ?? '')) report(`${at}.name`, 'not a valid variable name');
    if ((variable.value === undefined) === (variable.valueFrom === undefined))
      report(at, 'needs exactly one of value and valueFrom');
    if (variable.value !== undefined && typeof variable.value !== 'string')
      report(`${at}.value`, 'must be a string (quote it)');
    const from = variable.valueFrom;
    if (from !== undefined) {
      unknownKeys(from, ['configMapKeyRef', 'secretKeyRef', 'fieldRef', 'resourceFieldRef'], `${at}.valueFrom`, report);
      for (const ref of ['configMapKeyRef', 'secretKeyRef'])
        if (from[ref] && (!from[ref].name || !from[ref].key)) report(`${at}.valueFrom.${ref}`, 'needs name and key');
    }
  });
  ((container.envFrom ?? []) as K8sObject[]).forEach((source, i) => {
    unknownKeys(source, ['configMapRef', 'secretRef', 'prefix'], `${path}.envFrom[${i}]`, report);
    if (!source.configMapRef?.name && !source.secretRef?.name)
      report(`${path}.envFrom[${i}]`, 'needs a configMapRef or secretRef with a name');
  });
  const resources = container.resources ?? {};
  unknownKeys(resources, ['requests', 'limits'], `${path}.resources`, report);
  for (const section of ['requests', 'limits'])
    for (const [resource, quantity] of Object.entries(resources[section] ?? {}))
      if (!QUANTITY.test(String(quantity)))
        report(`${path}.resources.${section}.${resource}`, `not a quantity: ${JSON.stringify(quantity)}`);
}

const isPort = (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/**
 * floe: a released version or a digest. A Deployment re-pulls a moving tag only when a pod starts, so `latest` (or no
 * tag) runs whatever each node pulled last, and nothing in Git says which version that was.
 */
function imageRule(image: unknown, path: string, report: Report): void {
  if (typeof image !== 'string' || image === '') return report(path, 'missing');
  const [withTag, digest] = image.split('@');
  const colon = withTag.lastIndexOf(':');
  const tag = colon > withTag.lastIndexOf('/') ? withTag.slice(colon + 1) : undefined;
  if (digest !== undefined ? /^sha256:[0-9a-f]{64}$/.test(digest) : tag !== undefined && /^v?\d+(\.\d+)*$/.test(tag))
    return;
  report(path, `${image}: floe: pin a release version tag (not latest) or a digest`);
}

// ---------------------------------------------------------------------------------------------------------------
// References across a render

export interface WorkloadReferenceOptions {
  /** Secrets that are deliberately not in the render (supplied out of band). */
  externalSecrets?: readonly string[];
}

/** The pod template of a Deployment or Job, with its containers and init containers. */
export function podTemplates(objects: readonly K8sObject[]): { object: K8sObject; spec: K8sObject }[] {
  return objects
    .filter((object) => WORKLOAD_KINDS.has(groupKind(object)) && isRecord(object.spec?.template?.spec))
    .map((object) => ({ object, spec: object.spec.template.spec }));
}

export function workloadReferenceProblems(
  objects: readonly K8sObject[],
  options: WorkloadReferenceOptions = {},
): Problem[] {
  const problems: Problem[] = [];
  const named = (kind: string) =>
    new Map(objects.filter((object) => groupKind(object) === kind).map((object) => [object.metadata?.name, object]));
  const configMaps = named('v1/ConfigMap');
  const secrets = named('v1/Secret');
  const claims = named('v1/PersistentVolumeClaim');
  const external = new Set(options.externalSecrets ?? []);
  for (const { object, spec } of podTemplates(objects)) {
    const report = (path: string, message: string) => problems.push(problem(object, path, message));
    const configMap = (path: string, name: string, key?: string, optional?: boolean) => {
      const found = configMaps.get(name);
      if (!found) {
        if (!optional) report(path, `ConfigMap "${name}" is not in the render`);
      } else if (key !== undefined && found.data?.[key] === undefined && !optional)
        report(path, `ConfigMap "${name}" has no key ${key}`);
    };
    const secret = (path: string, name: string, key?: string, optional?: boolean) => {
      const found = secrets.get(name);
      if (!found) {
        if (!optional && !external.has(name))
          report(path, `Secret "${name}" is neither in the render nor declared as supplied out of band`);
      } else if (
        key !== undefined &&
        !optional &&
        found.data?.[key] === undefined &&
        found.stringData?.[key] === undefined
      )
        report(path, `Secret "${name}" has no key ${key}`);
    };
    const base = 'spec.template.spec';
    ((spec.volumes ?? []) as K8sObject[]).forEach((volume, i) => {
      const at = `${base}.volumes[${i}]`;
      if (volume.configMap?.name) configMap(at, volume.configMap.name, undefined, volume.configMap.optional);
      if (volume.secret?.secretName) secret(at, volume.secret.secretName, undefined, volume.secret.optional);
      const claim = volume.persistentVolumeClaim?.claimName;
      if (claim && !claims.has(claim)) report(at, `PersistentVolumeClaim "${claim}" is not in the render`);
    });
    for (const kind of ['containers', 'initContainers'])
      ((spec[kind] ?? []) as K8sObject[]).forEach((container, i) => {
        const at = `${base}.${kind}[${i}]`;
        ((container.envFrom ?? []) as K8sObject[]).forEach((source, j) => {
          if (source.configMapRef?.name)
            configMap(`${at}.envFrom[${j}]`, source.configMapRef.name, undefined, source.configMapRef.optional);
          if (source.secretRef?.name)
            secret(`${at}.envFrom[${j}]`, source.secretRef.name, undefined, source.secretRef.optional);
        });
        ((container.env ?? []) as K8sObject[]).forEach((variable, j) => {
          const from = variable.valueFrom ?? {};
          if (from.configMapKeyRef?.name)
            configMap(
              `${at}.env[${j}]`,
              from.configMapKeyRef.name,
              from.configMapKeyRef.key,
              from.configMapKeyRef.optional,
            );
          if (from.secretKeyRef?.name)
            secret(`${at}.env[${j}]`, from.secretKeyRef.name, from.secretKeyRef.key, from.secretKeyRef.optional);
        });
      });
  }
  // A Service selects the pods of a Deployment and names ports they have.
  const templates = podTemplates(objects).filter(({ object }) => groupKind(object) === 'apps/Deployment');
  for (const service of objects.filter((object) => groupKind(object) === 'v1/Service')) {
    const selector: Record<string, string> = service.spec?.selector ?? {};
    if (Object.keys(selector).length === 0) continue;
    const selected = templates.filter(({ object }) => {
      const labels = object.spec.template.metadata?.labels ?? {};
      return Object.entries(selector).every(([key, value]) => labels[key] === value);
    });
    if (selected.length === 0) {
      problems.push(problem(service, 'spec.selector', 'selects no Deployment of the render'));
      continue;
    }
    ((service.spec?.ports ?? []) as K8sObject[]).forEach((port, i) => {
      const target = port.targetPort ?? port.port;
      const ports = selected.flatMap(({ spec }) =>
        ((spec.containers ?? []) as K8sObject[]).flatMap((container) => (container.ports ?? []) as K8sObject[]),
      );
      const found = ports.some((p) => (typeof target === 'string' ? p.name === target : p.containerPort === target));
      if (!found)
        problems.push(
          problem(service, `spec.ports[${i}].targetPort`, `no container of the selected pods has port ${target}`),
        );
    });
  }
  return problems;
}
