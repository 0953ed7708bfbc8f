/**
 * Apache Kafka (KRaft, one node acting as broker and controller) from the Maven Central jars: `kafka_2.13` and a log4j2
 * binding (Kafka's pom leaves its logging backend out; without one the broker logs nothing). Every start formats a
 * fresh log directory, so each run begins with no topics.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { cached, fetchLog } from './cache.ts';
import { untilReady, type RunningEngine, type StartContext } from './engine.ts';
import { findJdk } from './java.ts';
import { copyDependencies } from './maven.ts';
import { freePorts, HOST } from './ports.ts';
import { run, spawnDetached, stopGroup, type Progress } from './proc.ts';

export const KAFKA_VERSION = '4.4.0';
const LOG4J_VERSION = '2.26.1';
const SLF4J_VERSION = '2.0.20';
const MIN_JAVA = 17;

export async function fetchKafka(
  version: string,
  options: { env?: NodeJS.ProcessEnv; progress: Progress; quietWhenCached?: boolean },
): Promise<string> {
  return cached(
    'kafka',
    version,
    async (dir) => {
      options.progress(
        `kafka ${version}: resolving org.apache.kafka:kafka_2.13:${version} and log4j ${LOG4J_VERSION} with Maven`,
      );
      await copyDependencies(
        dir,
        `kafka-${version}`,
        [
          { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version },
          // Kafka's pom pins slf4j-api 1.7, which ignores an SLF4J 2 provider (and then logs nothing); a direct
          // dependency is nearer and wins.
          { groupId: 'org.slf4j', artifactId: 'slf4j-api', version: SLF4J_VERSION },
          { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j2-impl', version: LOG4J_VERSION },
          { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
        ],
        { log: fetchLog('kafka', version, options.env), progress: options.progress },
      );
    },
    options,
  );
}

function serverProperties(o: { broker: number; controller: number; dataDir: string }): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://${HOST}:${o.broker},CONTROLLER://${HOST}:${o.controller}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${o.broker}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `controller.quorum.bootstrap.servers=${HOST}:${o.controller}`,
    `log.dirs=${o.dataDir}`,
    'num.partitions=1',
    // One node: every internal topic has a single replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Tests join consumer groups often; the default 3 s delay before the first rebalance would add to each.
    'group.initial.rebalance.delay.ms=0',
    // Fewer offsets partitions: the first group coordinator lookup waits for all of them to be created.
    'offsets.topic.num.partitions=4',
    '',
  ].join('\n');
}

const LOG4J2 = [
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = OUT',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = info',
  'rootLogger.appenderRef.out.ref = OUT',
  // Per-request and state-change chatter would dwarf everything else in the log.
  'logger.request.name = kafka.request.logger',
  'logger.request.level = warn',
  'logger.state.name = state.change.logger',
  'logger.state.level = warn',
  '',
].join('\n');

export async function startKafka(ctx: StartContext, version = KAFKA_VERSION): Promise<RunningEngine> {
  const jdk = findJdk('kafka', MIN_JAVA, ctx.env);
  const dir = await fetchKafka(version, { env: ctx.env, progress: ctx.progress, quietWhenCached: true });
  const home = path.join(ctx.home, 'kafka');
  const dataDir = path.join(home, 'data');
  rmSync(home, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const [broker, controller] = await freePorts(2);
  const properties = path.join(home, 'server.properties');
  writeFileSync(properties, serverProperties({ broker, controller, dataDir }));
  writeFileSync(path.join(home, 'log4j2.properties'), LOG4J2);
  const log = path.join(ctx.home, 'logs', 'kafka.log');
  mkdirSync(path.dirname(log), { recursive: true });
  const classpath = path.join(dir, 'libs', '*');
  const jvm = [
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(home, 'log4j2.properties')}`,
    '-cp',
    classpath,
  ];
  const javaEnv = { ...ctx.env, JAVA_HOME: jdk.home };

  ctx.progress(`kafka ${version}: formatting ${dataDir} (Java ${jdk.major})`);
  await run(
    jdk.java,
    [
      ...jvm,
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      '--ignore-formatted',
      '-t',
      clusterId(),
      '-c',
      properties,
    ],
    { cwd: home, env: javaEnv, log },
  );

  ctx.progress(`kafka ${version}: starting on ${HOST}:${broker} (controller ${controller})`);
  const spawned = spawnDetached(jdk.java, ['-Xms256m', '-Xmx512m', ...jvm, 'kafka.Kafka', properties], {
    cwd: home,
    env: javaEnv,
    log,
  });
  const brokers = `${HOST}:${broker}`;
  const engine: RunningEngine = {
    name: 'kafka',
    version,
    pid: spawned.pid,
    ports: { broker, controller },
    log,
    env: { KAFKA_BROKERS: brokers },
    async stop() {
      await stopGroup(spawned.pid);
    },
  };
  return untilReady(ctx, engine, spawned, () => kafkaAnswers(brokers));
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding (what `StorageTool random-uuid` prints). Like Kafka's
 * own generator it draws again when the id starts with '-', which the tool's argument parser would take for an option.
 */
function clusterId(): string {
  while (true) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Ready when an admin client connects and lists topics (the broker has joined its own controller quorum). */
export async function kafkaAnswers(brokers: string): Promise<boolean> {
  const kafka = new kafkajs.Kafka({
    clientId: 'floe-engines',
    brokers: [brokers],
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
