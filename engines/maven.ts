/**
 * Fetching jars from Maven Central with the ordinary `mvn`: a generated pom (dependencies resolved with their
 * transitive runtime closure) or a single artifact. The plugin version is named because Maven 3.8's default
 * dependency plugin predates the goals' current options.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { run, type Progress } from './proc.ts';

export const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.11.0';

export interface Coordinate {
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function pom(name: string, dependencies: Coordinate[]): string {
  const deps = dependencies
    .map((d) =>
      [
        '    <dependency>',
        `      <groupId>${xml(d.groupId)}</groupId>`,
        `      <artifactId>${xml(d.artifactId)}</artifactId>`,
        `      <version>${xml(d.version)}</version>`,
        ...(d.classifier ? [`      <classifier>${xml(d.classifier)}</classifier>`] : []),
        '    </dependency>',
      ].join('\n'),
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>floe.engines</groupId>
  <artifactId>${xml(name)}</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
${deps}
  </dependencies>
</project>
`;
}

const mavenArgs = ['-B', '-Dstyle.color=never'];

/** Copies the runtime closure of `dependencies` into `<dir>/libs` (the pom is written to `<dir>/pom.xml`). */
export async function copyDependencies(
  dir: string,
  name: string,
  dependencies: Coordinate[],
  options: { log: string; progress?: Progress },
): Promise<void> {
  writeFileSync(path.join(dir, 'pom.xml'), pom(name, dependencies));
  await run(
    'mvn',
    [
      ...mavenArgs,
      '-f',
      path.join(dir, 'pom.xml'),
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      '-DincludeScope=runtime',
      `-DoutputDirectory=${path.join(dir, 'libs')}`,
    ],
    {
      cwd: dir,
      log: options.log,
      progress: options.progress,
      label: `${name}: Maven`,
      counting: /Downloaded from /,
    },
  );
}

/** Copies one artifact (no dependencies) into `dir`, named `<artifactId>-<version>[-<classifier>].jar`. */
export async function copyArtifact(
  dir: string,
  coordinate: Coordinate,
  options: { log: string; progress?: Progress },
): Promise<string> {
  const { groupId, artifactId, version, classifier } = coordinate;
  const artifact = `${groupId}:${artifactId}:${version}:jar${classifier ? `:${classifier}` : ''}`;
  await run('mvn', [...mavenArgs, `${DEPENDENCY_PLUGIN}:copy`, `-Dartifact=${artifact}`, `-DoutputDirectory=${dir}`], {
    cwd: dir,
    log: options.log,
    progress: options.progress,
    label: `${artifactId}: Maven`,
    counting: /Downloaded from /,
  });
  return path.join(dir, `${artifactId}-${version}${classifier ? `-${classifier}` : ''}.jar`);
}
