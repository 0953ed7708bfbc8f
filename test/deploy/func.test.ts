/**
 * `kn func deploy --build=false --push=false` on functions/<name>/func.yaml deploys the one floe image as a Knative
 * Service that runs exactly that function. Each func.yaml is checked the way knative/func reads it (initialized, its
 * image, nothing for `kn func build` to build), the Service knative/func's Knative deployer would create from it is
 * compared with knative/services/<name>.yaml, and the image is emulated on the host: the Dockerfile's entrypoint runs
 * the bundles `npm run build` produces (into a temporary directory) with the func.yaml's environment, and the started
 * process answers the func.yaml's health endpoints and names itself as that function in its metrics.
 *
 * The function host listens on all interfaces, as it must in the container; the test talks to it on 127.0.0.1 only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import { buildFunctions } from '../../functions/build.ts';
import { FUNCTIONS } from '../../functions/registry.ts';
import { loadManifests, type Manifests } from '../../local/knative/manifests.ts';
import { tempDir } from '../helpers/tmp.ts';
import { numericImageUser } from './cluster-rules.ts';
import { HEALTH_PATHS } from './contract.ts';
import { imagePathMap, mapImagePaths, readDockerfile, type FinalStage } from './dockerfile.ts';
import { formatProblems, type K8sObject } from './problem.ts';
import { REPO_ROOT } from './render.ts';
import { validateDocument } from './validate.ts';

interface FuncEnv {
  name?: string;
  value?: string;
}

/** The parts of knative/func's func.yaml (schema/func_yaml-schema.json) floe uses or must not use. */
interface FuncYaml {
  specVersion?: string;
  name?: string;
  created?: string | Date;
  runtime?: string;
  image?: string;
  registry?: string;
  build?: Record<string, unknown>;
  run?: { envs?: FuncEnv[]; volumes?: unknown[] };
  deploy?: { healthEndpoints?: { liveness?: string; readiness?: string }; image?: string };
}

/** knative/func pkg/k8s: the port and the health paths its deployer probes when func.yaml names none. */
const FUNC_PORT = 8080;
const FUNC_DEFAULT_HEALTH = { liveness: '/health/liveness', readiness: '/health/readiness' };

async function readFuncYaml(name: string): Promise<FuncYaml> {
  // The yaml package keeps a timestamp a string; knative/func parses `created` as an RFC 3339 time.
  return parse(await readFile(path.join(REPO_ROOT, 'functions', name, 'func.yaml'), 'utf8')) as FuncYaml;
}

/**
 * The Knative Service knative/func's Knative deployer creates from a func.yaml (pkg/knative/deployer.go
 * generateNewService with pkg/k8s ProcessEnvs, SetHealthEndpoints, SetSecurityContext), for a deploy that builds
 * nothing: the image is func.yaml's `image`.
 */
function knFuncService(f: FuncYaml): K8sObject {
  const env: K8sObject[] = [{ name: 'BUILT', value: '20261202T000000' }];
  const envFrom: K8sObject[] = [];
  const entries = [...(f.run?.envs ?? [])];
  if (!entries.some((e) => e.name === 'ADDRESS')) entries.push({ name: 'ADDRESS', value: '0.0.0.0' });
  for (const entry of entries) {
    const reference = entry.value?.match(/^\{\{\s*(secret|configMap)\s*:\s*([^:}\s]+)\s*(?::\s*([^}\s]+)\s*)?\}\}$/);
    if (entry.name === undefined && reference && reference[3] === undefined) {
      envFrom.push(
        reference[1] === 'secret' ? { secretRef: { name: reference[2] } } : { configMapRef: { name: reference[2] } },
      );
    } else if (entry.name !== undefined && reference && reference[3] !== undefined) {
      const ref = { name: reference[2], key: reference[3] };
      env.push({
        name: entry.name,
        valueFrom: reference[1] === 'secret' ? { secretKeyRef: ref } : { configMapKeyRef: ref },
      });
    } else if (entry.name !== undefined && entry.value !== undefined && !entry.value.startsWith('{{')) {
      env.push({ name: entry.name, value: entry.value });
    } else {
      throw new Error(`func.yaml ${f.name}: env entry ${JSON.stringify(entry)} is not one knative/func can deploy`);
    }
  }
  const probe = (probePath: string) => ({ httpGet: { path: probePath, port: FUNC_PORT } });
  const health = { ...FUNC_DEFAULT_HEALTH, ...f.deploy?.healthEndpoints };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name: f.name,
      labels: {
        'boson.dev/function': 'true',
        'function.knative.dev/name': String(f.name),
        'function.knative.dev/runtime': f.runtime ?? '',
      },
    },
    spec: {
      template: {
        spec: {
          containers: [
            {
              image: f.image,
              env,
              envFrom,
              livenessProbe: probe(health.liveness),
              readinessProbe: probe(health.readiness),
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

const literalEnv = (service: K8sObject): Record<string, string> =>
  Object.fromEntries(
    service.spec.template.spec.containers[0].env
      .filter((e: K8sObject) => e.value !== undefined)
      .map((e: K8sObject) => [e.name, e.value]),
  );

let manifests: Manifests;
let stage: FinalStage;
beforeAll(async () => {
  manifests = await loadManifests();
  stage = await readDockerfile();
});

describe.each(FUNCTIONS)('functions/%s/func.yaml', (name) => {
  it('is a function kn func deploy accepts — initialized, named after its folder, an image to deploy — with nothing for kn func build', async () => {
    const f = await readFuncYaml(name);
    expect(f.specVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(f.name).toBe(name);
    // knative/func treats a function without `created` as not initialized ("no function found") and deploys nothing
    expect(f.created, 'created: an RFC 3339 time').toBeDefined();
    expect(Number.isNaN(new Date(String(f.created)).getTime()), `created: ${String(f.created)}`).toBe(false);
    // A function folder is no buildable project (its code imports ../../shared; the image bundles every function):
    // without a runtime, `kn func build` refuses instead of building the folder with a buildpack.
    expect(f.runtime).toBeUndefined();
    expect(f.build).toBeUndefined();
    expect(f.deploy?.image).toBeUndefined();
  });

  it("deploys what its knative/services Service runs: its image and FLOE_FUNCTION, its environment and Secrets, the host's health routes", async () => {
    const f = await readFuncYaml(name);
    const service = knFuncService(f);
    const base = manifests.services.find((s) => s.name === name)!;
    const container = service.spec.template.spec.containers[0];
    expect(formatProblems(validateDocument(service))).toBe('');
    expect(container.image).toBe(base.image);
    const env = literalEnv(service);
    expect(env.FLOE_FUNCTION).toBe(name);
    // the Service's own env and every value of floe-config (which a func.yaml cannot reference: its name is hashed)
    expect(env).toMatchObject(base.env);
    expect(env).toMatchObject(manifests.configMaps['floe-config']);
    const secrets = base.envFrom
      .filter((source) => source.secret && !source.optional)
      .map((source) => ({ secretRef: { name: source.secret } }));
    expect(container.envFrom).toEqual(secrets);
    expect({
      readinessProbe: container.readinessProbe.httpGet.path,
      livenessProbe: container.livenessProbe.httpGet.path,
    }).toEqual(HEALTH_PATHS);
    // knative/func sets runAsNonRoot without runAsUser: only a numeric USER in the image lets the kubelet start it
    expect(numericImageUser(stage.user), `Dockerfile USER ${stage.user}`).toBe(true);
    // FLOE_CONFIG names the image's copy of the pipeline configuration the base mounts from floe-pipeline
    const configInImage = imagePathMap(stage)(env.FLOE_CONFIG);
    expect(path.relative(REPO_ROOT, configInImage)).toBe(path.join('knative', 'config', 'pipeline.yaml'));
    expect(await readFile(configInImage, 'utf8')).toBe(manifests.configMaps['floe-pipeline']['pipeline.yaml']);
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface Running {
  child: ChildProcess;
  port: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Runs the image's entrypoint on the host with the environment the Service created from `f` gives the container. */
async function startImage(f: FuncYaml, bundles: string): Promise<Running> {
  const toHost = imagePathMap(stage, { 'dist/functions/': bundles });
  const entrypoint = stage.entrypoint!.map((arg) => mapImagePaths(arg, stage, toHost));
  const containerEnv: Record<string, string> = { ...stage.env };
  for (const [key, value] of Object.entries(literalEnv(knFuncService(f))))
    containerEnv[key] = mapImagePaths(value, stage, toHost);
  // Knative sets PORT to the container port; 0 lets the host pick a free one and log it
  containerEnv.PORT = '0';
  const child = spawn(entrypoint[0], entrypoint.slice(1), {
    env: { ...containerEnv, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const logs: Record<string, unknown>[] = [];
  const ready = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as Record<string, unknown>; // pino lines: no 64-bit ids
      logs.push(entry);
      // The host logs "<function> ready" with its port once it listens, whichever function it runs.
      if (typeof entry.msg === 'string' && entry.msg.endsWith(' ready') && typeof entry.port === 'number') {
        if (entry.name === f.name) resolve(entry.port);
        else reject(new Error(`the image started ${String(entry.name)}, not ${f.name}`));
      }
    });
    void exited.then((code) =>
      reject(new Error(`${f.name} exited with ${code} before it was ready:\n${stderr.slice(-2000)}`)),
    );
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${f.name} was not ready within 30 s:\n${stderr.slice(-2000)}`)), 30_000);
  });
  try {
    const port = await Promise.race([ready, deadline]);
    return { child, port, logs, exited };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

describe('the image started with each func.yaml', () => {
  let bundles: { dir: string; cleanup: () => Promise<void> };
  const running = new Set<Running>();

  beforeAll(async () => {
    bundles = await tempDir('floe-func-bundles');
    await buildFunctions(FUNCTIONS, bundles.dir);
  }, 180_000);

  afterAll(async () => {
    for (const process of running) process.child.kill('SIGKILL');
    await bundles?.cleanup();
  });

  it.each(FUNCTIONS)(
    '%s: the entrypoint serves exactly that function on the func.yaml health endpoints',
    async (name) => {
      const f = await readFuncYaml(name);
      const started = await startImage(f, bundles.dir);
      running.add(started);
      const url = (route: string) => `http://127.0.0.1:${started.port}${route}`;
      const health = { ...FUNC_DEFAULT_HEALTH, ...f.deploy?.healthEndpoints };

      for (const route of [health.readiness, health.liveness]) {
        const response = await fetch(url(route));
        expect(response.status, route).toBe(200);
        expect(await response.text()).toBe('OK');
      }
      expect((await fetch(url('/health/unknown'))).status).toBe(404);
      // Every metric of the process carries the function's name as its default label, and only this one.
      const metrics = await (await fetch(url('/metrics'))).text();
      const labels = new Set([...metrics.matchAll(/function="([^"]*)"/g)].map((m) => m[1]));
      expect(labels).toEqual(new Set([name]));
      expect(started.logs.every((entry) => entry.name === name)).toBe(true);

      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
      running.delete(started);
    },
    60_000,
  );
});
