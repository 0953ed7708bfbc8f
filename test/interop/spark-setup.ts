/**
 * globalSetup of `npm run test:interop` for Apache Spark: PySpark from PyPI (it ships Spark's jars) in its own
 * virtualenv, and Iceberg's Spark runtime jar from Maven Central (it bundles `org.apache.iceberg.nessie.NessieCatalog`
 * and the Nessie client), passed to Spark with `spark.jars` rather than `--packages`, which would resolve through
 * Ivy at every start. Both are cached in `${FLOE_INTEROP_CACHE:-~/.cache/floe/interop}/spark-<versions>` (the engines
 * cache's rule: built under a temporary name, renamed into place when complete), so a warm run downloads nothing.
 * Spark 4.0 runs on Java 17 or 21. The test files get the driver's settings with `inject('spark')`.
 *
 * For an `s3://` warehouse Iceberg's S3FileIO needs the AWS SDK, which `iceberg-aws-bundle` carries (a cache entry of
 * its own, `iceberg-aws-bundle-<version>`, so that the Spark entry above stays valid); it is handed over as `s3Jars`,
 * added to a session only when it reads S3.
 */
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { cached, fetchLog } from '../../engines/cache.ts';
import { findJdk } from '../../engines/java.ts';
import { copyArtifact } from '../../engines/maven.ts';
import { run } from '../../engines/proc.ts';

export const PYSPARK_VERSION = '4.0.1';
export const ICEBERG_VERSION = '1.10.0';
const ICEBERG_RUNTIME = {
  groupId: 'org.apache.iceberg',
  artifactId: 'iceberg-spark-runtime-4.0_2.13',
  version: ICEBERG_VERSION,
};
const ICEBERG_AWS_BUNDLE = {
  groupId: 'org.apache.iceberg',
  artifactId: 'iceberg-aws-bundle',
  version: ICEBERG_VERSION,
};

export interface SparkSetup {
  python: string;
  jars: string[];
  /** Iceberg's AWS bundle (S3FileIO and the AWS SDK it uses), for sessions on an S3 warehouse. */
  s3Jars: string[];
  javaHome: string;
  pyspark: string;
  iceberg: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    spark: SparkSetup;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const env = {
    ...process.env,
    FLOE_ENGINES_CACHE: process.env.FLOE_INTEROP_CACHE || path.join(os.homedir(), '.cache', 'floe', 'interop'),
  };
  const python = process.env.FLOE_PYTHON || 'python3';
  const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);
  const jdk = findJdk('spark', 17, env);
  const version = `${PYSPARK_VERSION}-iceberg-${ICEBERG_VERSION}`;
  const started = Date.now();
  const dir = await cached(
    'spark',
    version,
    async (work) => {
      const log = fetchLog('spark', version, env);
      progress(`creating a virtualenv for PySpark ${PYSPARK_VERSION} with ${python}`);
      await run(python, ['-m', 'venv', path.join(work, 'venv')], { log });
      // `bin/python -m pip`: the entry is renamed when complete, and scripts keep the old path in their shebang.
      await run(
        path.join(work, 'venv', 'bin', 'python'),
        ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', `pyspark==${PYSPARK_VERSION}`],
        {
          log,
          progress,
          label: `pip install pyspark==${PYSPARK_VERSION}`,
          counting: /^\s*(Downloading|Using cached) /,
        },
      );
      mkdirSync(path.join(work, 'jars'));
      await copyArtifact(path.join(work, 'jars'), ICEBERG_RUNTIME, { log, progress });
    },
    { env, progress },
  );
  const jar = path.join(dir, 'jars', `${ICEBERG_RUNTIME.artifactId}-${ICEBERG_VERSION}.jar`);
  if (!existsSync(jar)) throw new Error(`${jar} is missing from the Spark cache entry; remove ${dir} to fetch again`);
  const aws = await cached(
    ICEBERG_AWS_BUNDLE.artifactId,
    ICEBERG_VERSION,
    async (work) => {
      await copyArtifact(work, ICEBERG_AWS_BUNDLE, {
        log: fetchLog(ICEBERG_AWS_BUNDLE.artifactId, ICEBERG_VERSION, env),
        progress,
      });
    },
    { env, progress },
  );
  const awsJar = path.join(aws, `${ICEBERG_AWS_BUNDLE.artifactId}-${ICEBERG_VERSION}.jar`);
  if (!existsSync(awsJar)) throw new Error(`${awsJar} is missing from its cache entry; remove ${aws} to fetch again`);
  progress(
    `Spark ${PYSPARK_VERSION} with Iceberg ${ICEBERG_VERSION} ready in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  project.provide('spark', {
    python: path.join(dir, 'venv', 'bin', 'python'),
    jars: [jar],
    s3Jars: [awsJar],
    javaHome: jdk.home,
    pyspark: PYSPARK_VERSION,
    iceberg: ICEBERG_VERSION,
  });
}
