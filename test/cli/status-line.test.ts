import { describe, expect, it } from 'vitest';
import { statusLine } from '../../cli/commands/start.ts';
import type { StackStatus } from '../../local/stack/index.ts';

const calm: StackStatus = {
  trusted: 90,
  untrusted: 10,
  lag: 0,
  inFlight: 0,
  openBranches: 0,
  keptBranches: 0,
  deadLettered: 0,
  restarts: {},
};

describe('floe start status line', () => {
  it('leads with an alarm when anything was dead-lettered, even with nothing in flight', () => {
    expect(statusLine(12, 100, 5, calm)).toBe(
      '[  12s] produced 100 (5 bad) · on main 90 trusted, 10 untrusted · lag 0 · in flight 0 · open branches 0',
    );
    const line = statusLine(12, 100, 5, { ...calm, deadLettered: 3 });
    expect(line).toMatch(/^\[ {2}12s\] ⚠ DEAD-LETTERED 3 · produced 100/);
    expect(line).toContain('in flight 0');
  });
});
