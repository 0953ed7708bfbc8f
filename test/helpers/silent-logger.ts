/** The logger tests hand to servers and functions: nothing reaches the test output. */
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/runtime/logger.ts';

export const silentLogger = createLogger({
  format: 'json',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
