/**
 * The Nessie client suite (test/nessie/client-suite.ts) against a real Nessie server, e.g.
 * `NESSIE_URI=http://localhost:19120/api npm run test:engines` (optional `NESSIE_TOKEN`). It works only on branches
 * with unique names, so a shared server is safe.
 */
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { clientSuite } from '../nessie/client-suite.ts';
import { describeIfAvailable } from '../helpers/requires.ts';

const uri = process.env.NESSIE_URI;

describeIfAvailable(uri ? undefined : 'NESSIE_URI is not set: point it at a running Nessie REST API, e.g. http://localhost:19120/api')(
  'Nessie client against a real Nessie',
  () => clientSuite(`at ${uri ?? '$NESSIE_URI'}`, async () => ({ client: createNessieClient({ uri: uri!, token: process.env.NESSIE_TOKEN }), stop: async () => {} })),
);
