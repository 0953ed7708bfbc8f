/**
 * globalSetup of `npm run test:interop`: a Python virtualenv with the pinned engines of requirements.txt (PyIceberg
 * with PyArrow), built once into `${FLOE_INTEROP_CACHE:-~/.cache/floe/interop}/venv-<hash of requirements.txt>` and
 * reused while that file is unchanged. It is built under a temporary name and renamed into place when complete (the
 * engines cache's rule), so an interrupted install is never taken for a finished one. The test files get the venv's
 * interpreter with `inject('python')`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { cached, fetchLog } from '../../engines/cache.ts';
import { run } from '../../engines/proc.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    python: string;
  }
}

const REQUIREMENTS = fileURLToPath(new URL('./requirements.txt', import.meta.url));

export default async function setup(project: TestProject): Promise<void> {
  const requirements = readFileSync(REQUIREMENTS);
  const hash = createHash('sha256').update(requirements).digest('hex').slice(0, 12);
  // cached() keeps its entries under FLOE_ENGINES_CACHE; pointed at the interop cache, it names the entry venv-<hash>.
  const env = {
    ...process.env,
    FLOE_ENGINES_CACHE: process.env.FLOE_INTEROP_CACHE || path.join(os.homedir(), '.cache', 'floe', 'interop'),
  };
  const python = process.env.FLOE_PYTHON || 'python3';
  const progress = (line: string) => process.stderr.write(`[interop] ${line}\n`);
  const started = Date.now();
  const dir = await cached(
    'venv',
    hash,
    async (work) => {
      const log = fetchLog('venv', hash, env);
      progress(`creating a virtualenv with ${python}`);
      await run(python, ['-m', 'venv', work], { log });
      // `bin/python -m pip`, not `bin/pip`: the venv is renamed when complete, and scripts keep the old path in their shebang.
      await run(
        path.join(work, 'bin', 'python'),
        ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS],
        {
          log,
          progress,
          label: 'pip install -r test/interop/requirements.txt',
          counting: /^\s*(Downloading|Using cached) /,
        },
      );
    },
    { env, progress },
  );
  progress(`virtualenv ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${dir}`);
  project.provide('python', path.join(dir, 'bin', 'python'));
}
