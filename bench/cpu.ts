/**
 * CPU per event (issue 16): the local stack at a fixed rate below saturation, the simulator in a process of its own.
 * Once the pipeline is in steady state, the CPU time (utime + stime from /proc/<pid>/stat) of every function process
 * and of the stack process (embedded Kafka, Nessie, local Broker, KafkaSource stand-ins, scheduler) is taken over a
 * window and divided by the records that reached `main` in it. In the same run, before the stack starts, an empty
 * handler on floe's function host in a process of its own is loaded at the same rate: its CPU per request is what
 * every function is compared against. So are a bare node:http server (the raw limit of one hop) and a handler that
 * only posts each event on to a sink (the floor of the tagger, which posts every record on to the Broker).
 *
 * Goals: every function ≤ 2× the empty handler's CPU per request, per record it handles; all functions together
 * ≤ 500 µs per record; the stack process ≤ 1,000 µs per record.
 *
 *   npm run bench -- cpu [--rate 200] [--warmup 20s] [--window 30s] [--json] [--cpu-prof DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadTables } from '../shared/catalog/table-catalog.ts';
import { currentSnapshot } from '../shared/iceberg/metadata.ts';
import { tableNames, topicConfig } from '../shared/runtime/pipeline-config.ts';
import { DEFAULT_TOPICS } from '../local/simulator/index.ts';
import { startStack, type RunningStack } from '../local/stack/index.ts';
import { freePort } from '../local/stack/processes.ts';
import { parseDuration } from '../shared/util/duration.ts';
import { benchArgs } from './_args.ts';
import { silentLogger, startBareCloudEventServer } from './_measure.ts';

const USAGE = `Usage: npm run bench -- cpu [options]

CPU time per event of every function process and of the stack process, the local stack fed by the simulator at a
fixed rate, against an empty handler on floe's function host loaded at the same rate, a bare node:http server and a
handler that only posts each event on to a sink (the tagger's HTTP floor).

Options:
  --rate N          simulated events per second (default 200; keep it below saturation)
  --warmup D        time from the first record to the start of the window (default 20s)
  --window D        measured window (default 30s)
  --empty-window D  how long each reference server is loaded (default 10s)
  --seed S          simulator seed (default 7)
  --bundles DIR     run the functions from the bundles of \`npm run build\` (as the image does)
  --cpu-prof DIR    write a V8 CPU profile of the stack process over the measured window into DIR (stack.cpuprofile;
                    the profiler's own CPU counts in the figures); the functions take
                    FLOE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"
  --json            print one JSON object instead of the table
  -h, --help        this text
`;

const values = benchArgs(USAGE, {
  rate: { type: 'string', default: '200' },
  warmup: { type: 'string', default: '20s' },
  window: { type: 'string', default: '30s' },
  'empty-window': { type: 'string', default: '10s' },
  seed: { type: 'string', default: '7' },
  bundles: { type: 'string' },
  'cpu-prof': { type: 'string' },
  json: { type: 'boolean', default: false },
});
const rate = Number(values.rate);
if (!(rate > 0 && rate <= 10_000)) throw new Error(`--rate must be within (0, 10000], got ${values.rate}`);
function durationFlag(name: 'warmup' | 'window' | 'empty-window'): number {
  const ms = parseDuration(values[name]);
  if (ms === undefined || ms <= 0) throw new Error(`--${name} must be a duration like 30s, got ${values[name]}`);
  return ms;
}
const warmupMs = durationFlag('warmup');
const windowMs = durationFlag('window');
const emptyWindowMs = durationFlag('empty-window');
const seed = Number(values.seed);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const progress = (text: string) => process.stderr.write(`cpu bench: ${text}\n`);

const TICKS_PER_SECOND = 100;
/** CPU time of a live process (all its threads), microseconds; user + system. */
function cpuMicros(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** User and system (kernel) CPU time of a live process, microseconds. */
function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at the last ')'; utime and stime are fields 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1e6) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1e6) / TICKS_PER_SECOND };
}

/** Sends binary-mode CloudEvents to `url` at `perSecond`, paced, without waiting for answers; resolves with the count. */
async function paced(url: string, perSecond: number, ms: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const body = Buffer.from(JSON.stringify({ sensor_id: 's-1', timestamp: '2026-11-22T10:00:00.000Z', value: 3 }));
  let sent = 0;
  let answered = 0;
  let failed = 0;
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) * perSecond) / 1000) + 1;
    while (sent < due) {
      const n = sent++;
      const done = new Promise<void>((resolve) => {
        const req = http.request(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              'ce-specversion': '1.0',
              'ce-id': `partition:0/offset:${n}`,
              'ce-type': 'dev.knative.kafka.event',
              'ce-source': '/apis/v1/namespaces/floe/kafkasources/parking-sensors#parking-sensors',
              'content-type': 'application/json',
              'content-length': String(body.length),
            },
          },
          (res) => {
            if (res.statusCode! >= 300) failed++;
            res.resume();
            res.on('end', () => {
              answered++;
              resolve();
            });
          },
        );
        req.on('error', () => {
          failed++;
          resolve();
        });
        req.end(body);
      });
      pending.add(done);
      void done.then(() => pending.delete(done));
    }
    await new Promise((r) => setTimeout(r, Math.max(1, (sent * 1000) / perSecond - (performance.now() - started))));
  }
  await Promise.all(pending);
  agent.destroy();
  if (failed) throw new Error(`${failed} of ${sent} requests to the empty handler failed`);
  return answered;
}

/**
 * The raw limit of one hop: a bare node:http server (no host, no metrics) that parses each CloudEvent and answers
 * 204, in its own process. At a paced rate each request is its own wake-up of the event loop, so this floor is far
 * above its cost per request at saturation.
 */
function bareServerScript(port: number): string {
  return [
    `import http from 'node:http';`,
    `import { fromHttp } from '${root}/shared/events/cloudevent.ts';`,
    `http.createServer((req, res) => {`,
    `  const chunks = []; req.on('data', (c) => chunks.push(c));`,
    `  req.on('end', () => { if (req.method === 'POST') fromHttp(req.headers, Buffer.concat(chunks)); res.writeHead(req.method === 'POST' ? 204 : 200).end(); });`,
    `}).listen(${port}, '127.0.0.1');`,
  ].join('\n');
}

/** An empty handler on floe's function host, in its own process. */
function emptyHostScript(port: number): string {
  return [
    `import { startHost } from '${root}/shared/runtime/function-host.ts';`,
    `import { createLogger } from '${root}/shared/runtime/logger.ts';`,
    `await startHost({ fn: { name: 'empty', handle: async () => undefined }, logger: createLogger({ name: 'empty', level: 'info', format: 'json' }), port: ${port}, host: '127.0.0.1' });`,
  ].join('\n');
}

/**
 * The tagger's HTTP floor: a handler on floe's function host that only posts each event on to a sink (here a bare
 * server in the benchmark's process), as the tagger posts every record to the Broker: two HTTP exchanges per event.
 */
function forwardingHostScript(sink: string): (port: number) => string {
  return (port) =>
    [
      `import { startHost } from '${root}/shared/runtime/function-host.ts';`,
      `import { createLogger } from '${root}/shared/runtime/logger.ts';`,
      `await startHost({ fn: { name: 'forward', handle: (context, event) => context.emit(event) }, sink: '${sink}', logger: createLogger({ name: 'forward', level: 'info', format: 'json' }), port: ${port}, host: '127.0.0.1' });`,
    ].join('\n');
}

/** A server in its own process (`script(port)`), loaded at `perSecond`: its CPU µs per request. */
async function serverCost(
  script: (port: number) => string,
  perSecond: number,
  ms: number,
): Promise<{ requests: number; micros: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(port)], {
    cwd: root,
    stdio: 'ignore',
  });
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server under load exited with ${child.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health/readiness`)).ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // A short run first: the JIT warms up outside the measured window, as the pipeline's warm-up does.
    await paced(`http://127.0.0.1:${port}/`, perSecond, Math.min(3000, ms));
    const before = cpuMicros(child.pid!);
    const requests = await paced(`http://127.0.0.1:${port}/`, perSecond, ms);
    return { requests, micros: cpuMicros(child.pid!) - before };
  } finally {
    child.kill('SIGKILL');
    process.off('exit', killChild);
  }
}

/** Events a function received so far, from its Prometheus `floe_events_received_total` (all types). */
async function received(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('floe_events_received_total{')) total += Number(line.split(' ').pop());
  return total;
}

async function onMain(stack: RunningStack): Promise<number> {
  const config = stack.env.pipeline;
  const names = Object.values(DEFAULT_TOPICS).map((t) => tableNames(config, topicConfig(config, t)!));
  const { tables } = await loadTables(
    stack.catalog,
    'main',
    names.flatMap((n) => [n.production, n.untrusted]),
  );
  let rows = 0;
  for (const table of tables.values()) rows += Number(currentSnapshot(table.metadata)?.summary['total-records'] ?? 0);
  return rows;
}

interface Sample {
  at: number;
  onMain: number;
  stack: { user: number; system: number };
  simulator: number;
  functions: Record<string, { cpu: number; system: number; received: number }>;
}

async function sample(stack: RunningStack, simulator: ChildProcess): Promise<Sample> {
  // CPU first, all at once; the counts (HTTP round trips) follow.
  const fns = Object.values(stack.functions);
  const at = performance.now();
  const cpu = fns.map((fn) => cpuSplit(fn.pid()!));
  const stackCpu = cpuSplit(process.pid);
  const simulatorCpu = cpuMicros(simulator.pid!);
  const [counts, rows] = await Promise.all([Promise.all(fns.map((fn) => received(fn.url))), onMain(stack)]);
  return {
    at,
    onMain: rows,
    stack: stackCpu,
    simulator: simulatorCpu,
    functions: Object.fromEntries(
      fns.map((fn, i) => [fn.name, { cpu: cpu[i].user + cpu[i].system, system: cpu[i].system, received: counts[i] }]),
    ),
  };
}

/**
 * Profiles the stack process (this one) through the inspector over the window only: `node --cpu-prof` would also take
 * in the empty handler's run, the stack's start and the warm-up.
 */
async function startProfile(dir: string | undefined): Promise<{ stop(): Promise<void> } | undefined> {
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'stack.cpuprofile'), JSON.stringify(profile));
      progress(`stack process profile: ${path.join(dir, 'stack.cpuprofile')}`);
    },
  };
}

progress(`bare node:http server at ${rate}/s for ${emptyWindowMs / 1000} s`);
const bare = await serverCost(bareServerScript, rate, emptyWindowMs);
const barePerRequest = bare.micros / bare.requests;
progress(`empty handler at ${rate}/s for ${emptyWindowMs / 1000} s`);
const empty = await serverCost(emptyHostScript, rate, emptyWindowMs);
const emptyPerRequest = empty.micros / empty.requests;
progress(`forwarding handler (each event posted on to a sink) at ${rate}/s for ${emptyWindowMs / 1000} s`);
const sink = await startBareCloudEventServer();
const forwarding = await serverCost(forwardingHostScript(sink.url), rate, emptyWindowMs).finally(sink.close);
const forwardingPerRequest = forwarding.micros / forwarding.requests;

const home = await mkdtemp(path.join(tmpdir(), 'floe-bench-cpu-'));
progress('starting the stack');
const stack = await startStack({
  home,
  logger: silentLogger,
  configFile: 'knative/config/pipeline.yaml',
  dashboard: false,
  ...(values.bundles ? { bundles: path.resolve(values.bundles) } : {}),
});
let simulator: ChildProcess | undefined;
// Ctrl-C: the simulator and the stack's function processes must not outlive the benchmark.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    simulator?.kill('SIGKILL');
    void stack
      .stop()
      .then(() => rm(home, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  });
}
try {
  simulator = spawn(
    process.execPath,
    [
      path.join(root, 'cli/floe.js'),
      'simulate',
      '--brokers',
      stack.kafkaBrokers.join(','),
      '--rate',
      String(rate),
      '--seed',
      String(seed),
      '--bad-fraction',
      '0.05',
      '--status-interval',
      '1h',
    ],
    { cwd: root, stdio: 'ignore' },
  );
  const deadline = performance.now() + 120_000;
  while ((await onMain(stack)) === 0) {
    if (performance.now() > deadline) throw new Error('no record reached main within 120 s');
    if (simulator.exitCode !== null) throw new Error(`the simulator exited with ${simulator.exitCode}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  progress(`records on main; warming up for ${warmupMs / 1000} s, then measuring for ${windowMs / 1000} s`);
  await new Promise((r) => setTimeout(r, warmupMs));
  const profiler = await startProfile(values['cpu-prof']);
  const first = await sample(stack, simulator);
  await new Promise((r) => setTimeout(r, windowMs));
  const last = await sample(stack, simulator);
  await profiler?.stop();
  const status = await stack.status();
  if (status.restarts && Object.values(status.restarts).some((n) => n > 0))
    throw new Error(`a function restarted during the run: ${JSON.stringify(status.restarts)}`);

  const events = last.onMain - first.onMain;
  if (events <= 0) throw new Error('no record reached main during the window');
  const seconds = (last.at - first.at) / 1000;
  const rows = Object.keys(last.functions).map((name) => {
    const cpu = last.functions[name].cpu - first.functions[name].cpu;
    const got = last.functions[name].received - first.functions[name].received;
    const system = last.functions[name].system - first.functions[name].system;
    const perEvent = cpu / events;
    return {
      name,
      cpuMs: cpu / 1000,
      systemShare: cpu > 0 ? system / cpu : 0,
      received: got,
      perEvent,
      perReceived: got ? cpu / got : null,
      ratio: perEvent / emptyPerRequest,
      goalMet: perEvent <= 2 * emptyPerRequest,
    };
  });
  const functionsPerEvent = rows.reduce((sum, r) => sum + r.perEvent, 0);
  const stackCpu = last.stack.user + last.stack.system - (first.stack.user + first.stack.system);
  const stackSystemShare = stackCpu > 0 ? (last.stack.system - first.stack.system) / stackCpu : 0;
  const stackPerEvent = stackCpu / events;
  // Steady state: what entered the pipeline (the tagger) reached main in the same window, and Kafka lag stayed small.
  const taggerReceived = rows.find((r) => r.name === 'tagger')?.received ?? 0;
  const steady = Math.abs(taggerReceived - events) <= 0.15 * events && status.lag < rate * 5;
  const result = {
    steady,
    rate,
    windowSeconds: seconds,
    eventsOnMain: events,
    eventsPerSecond: events / seconds,
    taggerReceived,
    emptyHandler: { requests: empty.requests, perRequestMicros: emptyPerRequest },
    bareServer: { requests: bare.requests, perRequestMicros: barePerRequest },
    forwardingHandler: { requests: forwarding.requests, perRequestMicros: forwardingPerRequest },
    // What no tagging, writing or auditing can go below: the tagger's two exchanges and the writer's one.
    functionsFloorPerEvent: forwardingPerRequest + emptyPerRequest,
    functions: rows,
    functionsPerEvent,
    functionsGoalMet: functionsPerEvent <= 500,
    stackPerEvent,
    stackSystemShare,
    stackGoalMet: stackPerEvent <= 1000,
    simulatorPerEvent: (last.simulator - first.simulator) / events,
    lagAtEnd: status.lag,
    statusAtEnd: status,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const us = (n: number) => Math.round(n).toLocaleString('en-US');
    const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log(
      `\n${events} records reached main in ${seconds.toFixed(1)} s (${(events / seconds).toFixed(0)}/s at --rate ${rate}; the tagger received ${result.taggerReceived}); empty handler ${us(emptyPerRequest)} µs CPU per request at ${rate}/s, a bare node:http server ${us(barePerRequest)} (host / bare ${(emptyPerRequest / barePerRequest).toFixed(2)}); a handler that only posts each event on to a sink ${us(forwardingPerRequest)} (${(forwardingPerRequest / emptyPerRequest).toFixed(2)}× the empty handler: the tagger's floor, which also posts every record on)\n`,
    );
    console.log(
      '| process | CPU ms | kernel share | events received | µs / record on main | µs / event received | × empty handler | goal |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(
        `| ${r.name} | ${us(r.cpuMs)} | ${(100 * r.systemShare).toFixed(0)}% | ${r.received} | ${us(r.perEvent)} | ${r.perReceived === null ? '–' : us(r.perReceived)} | ${r.ratio.toFixed(2)} | ≤ 2× ${mark(r.goalMet)}${r.name === 'tagger' ? ` (forwarding alone ${(forwardingPerRequest / emptyPerRequest).toFixed(2)}×)` : ''} |`,
      );
    }
    console.log(
      `| all functions | | | | ${us(functionsPerEvent)} | | | ≤ 500 µs ${mark(result.functionsGoalMet)} (HTTP floor: forwarding + empty = ${us(result.functionsFloorPerEvent)}) |`,
    );
    console.log(
      `| stack process (Kafka, Nessie, Broker, sources) | ${us(stackCpu / 1000)} | ${(100 * stackSystemShare).toFixed(0)}% | | ${us(stackPerEvent)} | | | ≤ 1,000 µs ${mark(result.stackGoalMet)} |`,
    );
    console.log(`| simulator (own process, not counted) | | | | ${us(result.simulatorPerEvent)} | | | |`);
    if (!steady)
      console.log(
        `\nNOT IN STEADY STATE: the tagger received ${taggerReceived} events, ${events} reached main, Kafka lag ${status.lag} at the end — the machine did not keep up with --rate ${rate}; lower it`,
      );
  }
} finally {
  simulator?.kill('SIGKILL');
  await stack.stop();
  await rm(home, { recursive: true, force: true });
}
