/** True when the `CI` environment variable is set to anything but an explicit no (CI systems set `CI=true`). */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** vitest's `describe.skip` takes no reason, so a skipped suite carries it in its name. */
export function skippedName(name: string, reason: string): string {
  return `${name} [skipped: ${reason}]`;
}

/** The reason `skippedName` put into a test's full name, and that name without it; undefined when there is none. */
export function skipReasonIn(fullName: string): { reason: string; name: string } | undefined {
  const match = / \[skipped: (.*?)\](?= > |$)/.exec(fullName);
  return match ? { reason: match[1], name: fullName.replace(match[0], '') } : undefined;
}
