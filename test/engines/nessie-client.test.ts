/**
 * The Nessie client suite (test/nessie/client-suite.ts) against a real Nessie server, e.g.
 * `NESSIE_URI=http://localhost:19120/api npm run test:engines` (optional `NESSIE_TOKEN`). It works only on branches
 * with unique names, so a shared server is safe.
 *
 * The engines cannot start a Nessie everywhere: where Maven Central does not serve the server's runner jar, fetching
 * it fails with "Could not find artifact org.projectnessie.nessie:nessie-quarkus:jar:runner". So
 * vitest.engines.config.ts leaves this file out unless NESSIE_URI is set (CI fails on skipped tests); run it with
 * NESSIE_URI pointing at a Nessie started some other way (or `FLOE_NESSIE_JAR=<runner jar> npm run engines -- start`).
 */
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { clientSuite } from '../nessie/client-suite.ts';
import { describeIfAvailable } from '../helpers/requires.ts';

const uri = process.env.NESSIE_URI;

describeIfAvailable(
  uri
    ? undefined
    : 'NESSIE_URI is not set: no real Nessie here (Maven Central: "Could not find artifact org.projectnessie.nessie:nessie-quarkus:jar:runner"); point NESSIE_URI at a running Nessie REST API, e.g. http://localhost:19120/api',
)('Nessie client against a real Nessie', () =>
  clientSuite(`at ${uri ?? '$NESSIE_URI'}`, async () => ({
    client: createNessieClient({ uri: uri!, token: process.env.NESSIE_TOKEN }),
    stop: async () => {},
  })),
);
