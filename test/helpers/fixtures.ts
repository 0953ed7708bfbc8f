/**
 * Where the fixtures the tests read live: `test/fixtures/` (its README says where each came from). Resolved from this
 * file, so the tests find them from any working directory and need nothing outside the repository.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Real Iceberg tables and files by other writers (icebird, duckdb-iceberg, apache-iceberg, iceberg-rust, iceberg-go). */
export const ICEBERG_FIXTURES = path.join(FIXTURES_DIR, 'iceberg');

/** Avro schemas of the manifest list and manifests Iceberg Java 1.8.1 writes. */
export const ICEBERG_SCHEMAS = path.join(FIXTURES_DIR, 'iceberg-schemas');

/** kafkajs request/response bytes per API folder and version. */
export const KAFKA_PROTOCOL_FIXTURES = path.join(FIXTURES_DIR, 'kafka-protocol');

/** Knative CRD schemas as `<group>/<kind>_<version>.json`. */
export const CRD_SCHEMAS = path.join(FIXTURES_DIR, 'knative-crds', 'jsonschema');

/** The Nessie REST API v2 subset floe uses, as OpenAPI 3. */
export const NESSIE_OPENAPI = path.join(FIXTURES_DIR, 'nessie', 'nessie-v2-wap-subset.hand-derived.openapi.yaml');
