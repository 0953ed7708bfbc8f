/**
 * Processes of the engines: the tools that fetch them (Maven, pip), run to completion with their output in a log
 * and a progress line now and then; and the engines themselves, started detached in their own process group so they
 * outlive the command that started them and a stop can end the whole group (a JVM or a Python server may fork).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export type Progress = (message: string) => void;

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Everything the tool prints goes here (appended). */
  log: string;
  /** Told every `everyMs` how many lines matched `counting` so far (e.g. files downloaded). */
  progress?: Progress;
  label?: string;
  counting?: RegExp;
  everyMs?: number;
}

/** Runs a tool to completion; a non-zero exit throws with the tool's error lines (the whole output is in the log). */
export async function run(command: string, args: string[], options: RunOptions): Promise<void> {
  const fd = openSync(options.log, 'a');
  writeSync(fd, `\n$ ${command} ${args.join(' ')}\n`);
  closeSync(fd);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let counted = 0;
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (options.counting?.test(line)) counted++;
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const started = Date.now();
  const timer = options.progress
    ? setInterval(() => {
        const seconds = Math.round((Date.now() - started) / 1000);
        options.progress?.(`${options.label ?? command}: ${seconds}s${options.counting ? `, ${counted} files` : ''}`);
      }, options.everyMs ?? 5000)
    : undefined;
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => {
    if (timer) clearInterval(timer);
    if (partial) lines.push(partial);
    const out = openSync(options.log, 'a');
    writeSync(out, lines.join('\n') + '\n');
    closeSync(out);
  });
  if (code !== 0) {
    // eslint-disable-next-line no-control-regex
    const plain = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    const boilerplate = /^\[ERROR\]\s*($|To see the full|Re-run Maven|For more information|\[Help \d\])/;
    const errors = plain
      .filter((l) => /\[ERROR\]|ERROR:|error:|Could not|No matching distribution/i.test(l) && !boilerplate.test(l))
      .slice(0, 8);
    const shown = (errors.length ? errors : plain.slice(-8)).join('\n  ');
    throw new Error(
      `${command} ${args.slice(0, 3).join(' ')}… exited with ${code} (full output in ${options.log}):\n  ${shown}`,
    );
  }
}

export interface Spawned {
  pid: number;
  /** Resolves with the exit code when the process ends (only while this process is the parent). */
  exited: Promise<number | null>;
}

/** Starts an engine detached, in its own process group, writing stdout and stderr to `log`. */
export function spawnDetached(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): Spawned {
  const fd = openSync(options.log, 'a');
  writeSync(fd, `\n# ${new Date().toISOString()} $ ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return { pid: child.pid, exited };
}

/**
 * Whether any process of the group led by `pid` is alive. A killed process stays visible until its parent reaps it
 * (the engines outlive the command that started them, so their parent may be init); on Linux such zombies count as
 * gone.
 */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const members = groupMembers(pid);
  return members === undefined || members.some((m) => m.state !== 'Z');
}

/** The processes of group `pgid` with their state letter, from /proc; undefined where there is no /proc. */
function groupMembers(pgid: number): { pid: string; state: string }[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const members: { pid: string; state: string }[] = [];
  for (const entry of entries) {
    const stat = readProc(`/proc/${entry}/stat`);
    if (!stat) continue;
    // After the parenthesised command name (which may contain spaces): state, ppid, pgrp, …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid) members.push({ pid: entry, state: fields[0] });
  }
  return members;
}

/**
 * Ends the process group led by `pid`: SIGTERM, then SIGKILL if it is still there after `graceMs`. Resolves once no
 * process of the group is left (the JVMs flush their logs and release their ports on SIGTERM).
 */
export async function stopGroup(pid: number, graceMs = 15_000): Promise<'stopped' | 'killed' | 'gone'> {
  if (!groupAlive(pid)) return 'gone';
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return 'stopped';
    await sleep(50);
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  const killDeadline = Date.now() + 5000;
  while (groupAlive(pid) && Date.now() < killDeadline) await sleep(50);
  return 'killed';
}

/**
 * Polls `probe` until it returns true; fails when `timeoutMs` passes or when the process exits first (then the error
 * carries the last lines of its log).
 */
export async function waitReady(
  name: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; spawned: Spawned; log: string; progress?: Progress },
): Promise<void> {
  let exitCode: number | null | undefined;
  void options.spawned.exited.then((code) => {
    exitCode = code;
  });
  const started = Date.now();
  let lastNote = started;
  while (true) {
    if (exitCode !== undefined) {
      throw new Error(
        `${name} exited with ${exitCode} before it was ready; last lines of ${options.log}:\n${tail(options.log)}`,
      );
    }
    if (await probe().catch(() => false)) return;
    const now = Date.now();
    if (now - started > options.timeoutMs) {
      throw new Error(
        `${name} was not ready within ${Math.round(options.timeoutMs / 1000)}s; last lines of ${options.log}:\n${tail(options.log)}`,
      );
    }
    if (options.progress && now - lastNote >= 5000) {
      lastNote = now;
      options.progress(`${name}: waiting for readiness (${Math.round((now - started) / 1000)}s)`);
    }
    await sleep(100);
  }
}

/** The last `lines` lines of a log file (at most its last 64 KiB), or a note that there is none. */
export function tail(file: string, lines = 30): string {
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

/** Resident set size of a process group's processes in KiB, from /proc (Linux). */
export function groupRssKiB(pgid: number): number | undefined {
  const members = groupMembers(pgid);
  if (!members) return undefined;
  let total = 0;
  let found = false;
  for (const { pid } of members) {
    const match = /VmRSS:\s+(\d+) kB/.exec(readProc(`/proc/${pid}/status`) ?? '');
    if (match) {
      total += Number(match[1]);
      found = true;
    }
  }
  return found ? total : undefined;
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
