/**
 * The Nessie client suite (client-suite.ts) against the embedded server; `npm run test:engines` runs the same suite
 * against a real Nessie (test/engines/nessie-client.test.ts).
 */
import { clientSuite } from './client-suite.ts';
import { startEmbeddedNessie, type EmbeddedNessie } from './helpers.ts';

clientSuite('Nessie client against the embedded server', async () => {
  const server: EmbeddedNessie = await startEmbeddedNessie();
  return { client: server.client, stop: server.stop };
});
