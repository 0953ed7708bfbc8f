/**
 * Runs test/interop/spark_job.py (one local Spark session, Iceberg's NessieCatalog, the given SQL steps in order) with
 * the PySpark and jars of the global setup (./spark-setup.ts) and hands back each step's rows or error.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { parseJson } from '../../shared/util/lossless-json.ts';

const SPARK_JOB = fileURLToPath(new URL('./spark_job.py', import.meta.url));

export interface StepResult {
  columns?: string[];
  rows?: Record<string, unknown>[];
  error?: string;
}

export interface SparkRequest {
  /** The catalog `nessie`: the Nessie REST API v2 base, its ref and warehouse, and further Iceberg catalog properties. */
  catalog: { uri: string; ref: string; warehouse: string; properties?: Record<string, string> };
  /** More catalogs on other refs: name → ref. */
  catalogs?: Record<string, string>;
  steps: string[];
  /** Add Iceberg's AWS bundle (S3FileIO) to the session. */
  s3?: boolean;
}

/** Runs the steps in one Spark session; `dir` receives the job's output file. */
export async function runSpark(request: SparkRequest, dir: string): Promise<StepResult[]> {
  const setup = inject('spark');
  const output = path.join(dir, `spark-${Date.now()}.json`);
  const { s3, ...job } = request;
  const body = { ...job, catalogs: job.catalogs ?? {}, jars: [...setup.jars, ...(s3 ? setup.s3Jars : [])], output };
  await new Promise<void>((resolve, reject) => {
    const child = spawn(setup.python, [SPARK_JOB], {
      env: { ...process.env, JAVA_HOME: setup.javaHome, PYSPARK_PYTHON: setup.python, SPARK_LOCAL_IP: '127.0.0.1' },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`spark_job.py exited with ${c}:\n${stderr}`))));
    child.stdin.end(JSON.stringify(body));
  });
  return parseJson<StepResult[]>(readFileSync(output, 'utf8'));
}
