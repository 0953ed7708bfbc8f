/** Runs the real `floe` command (cli/floe.js), or any Node script, as a child process. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FLOE = path.resolve(fileURLToPath(new URL('../../cli/floe.js', import.meta.url)));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Press Ctrl-C once stderr matches: SIGINT to the command's whole process group, as a terminal sends it. */
  ctrlCWhen?: RegExp;
}

export function runFloe(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runNode([FLOE, ...args], options);
}

/** Runs `node <argv>` (e.g. `['--import', 'tsx', script, ...args]`) and collects its exit code and output. */
export function runNode(argv: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // With Ctrl-C the command leads its own process group, so the signal reaches it and its children but not vitest.
    const ownGroup = options.ctrlCWhen !== undefined;
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      detached: ownGroup,
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (ownGroup && !interrupted && options.ctrlCWhen!.test(stderr)) {
        interrupted = true;
        process.kill(-child.pid!, 'SIGINT');
      }
    });
    const timer = setTimeout(
      () => (ownGroup ? process.kill(-child.pid!, 'SIGKILL') : child.kill('SIGKILL')),
      options.timeoutMs ?? 60_000,
    );
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
