/**
 * Finding a JDK for an engine: Kafka 4 runs on Java 17+, the Nessie server needs a newer one. An explicit home wins
 * (`FLOE_<ENGINE>_JAVA_HOME`, then `JAVA_HOME`), then the `java` on PATH, then the JDKs installed side by side in the
 * system JVM directory (Debian's layout), which are not always registered as alternatives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

const SYSTEM_JVMS = '/usr/lib/jvm';

export interface Jdk {
  home: string;
  major: number;
  java: string;
}

function jdkAt(home: string | undefined): Jdk | undefined {
  if (!home) return undefined;
  const java = path.join(home, 'bin', 'java');
  if (!existsSync(java)) return undefined;
  let major: number | undefined;
  try {
    const release = readFileSync(path.join(home, 'release'), 'utf8');
    const match = /JAVA_VERSION="(\d+)(?:\.(\d+))?/.exec(release);
    if (match) major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  } catch {
    try {
      const out = execFileSync(java, ['-XshowSettings:properties', '-version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const match = /java\.specification\.version = (\d+)/.exec(out);
      if (match) major = Number(match[1]);
    } catch {
      return undefined;
    }
  }
  return major === undefined ? undefined : { home, major, java };
}

function onPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'java');
    if (existsSync(candidate)) {
      try {
        return path.dirname(path.dirname(realpathSync(candidate)));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The first JDK of at least `minMajor` in the order above; throws naming what was found when none fits. */
export function findJdk(engine: string, minMajor: number, env: NodeJS.ProcessEnv = process.env): Jdk {
  const overrideVar = `FLOE_${engine.toUpperCase()}_JAVA_HOME`;
  const override = env[overrideVar];
  if (override) {
    const jdk = jdkAt(override);
    if (!jdk) throw new Error(`${overrideVar}=${override} is not a JDK (no bin/java)`);
    if (jdk.major < minMajor)
      throw new Error(`${overrideVar}=${override} is Java ${jdk.major}; ${engine} needs ${minMajor} or newer`);
    return jdk;
  }
  const system = existsSync(SYSTEM_JVMS) ? readdirSync(SYSTEM_JVMS).map((name) => path.join(SYSTEM_JVMS, name)) : [];
  const seen: Jdk[] = [];
  for (const home of [env.JAVA_HOME, onPath(), ...system]) {
    const jdk = jdkAt(home);
    if (!jdk) continue;
    if (jdk.major >= minMajor) return jdk;
    seen.push(jdk);
  }
  const found = seen.length ? seen.map((j) => `Java ${j.major} at ${j.home}`).join(', ') : 'none';
  throw new Error(`${engine} needs Java ${minMajor} or newer; found ${found}. Install one, or set ${overrideVar}.`);
}
