/**
 * The Superset dashboard as code (kustomize/components/bi/superset-dashboard/), checked without Superset: the
 * directory stays flat and its kustomization lists every file (a file left out would silently be missing from the
 * ConfigMap the import Job mounts), and the files refer to each other consistently. That Superset imports the files
 * and every chart returns Trino's numbers is test/interop/superset.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const DIR = fileURLToPath(new URL('../../kustomize/components/bi/superset-dashboard/', import.meta.url));
const files = readdirSync(DIR).sort();
const load = (name: string) => parseYaml(readFileSync(path.join(DIR, name), 'utf8')) as Record<string, any>;

describe('the Superset dashboard directory', () => {
  it('is flat, and its kustomization generates the ConfigMap floe-superset-dashboard from every other file', () => {
    for (const name of files) expect(statSync(path.join(DIR, name)).isFile(), name).toBe(true);
    const kustomization = load('kustomization.yaml');
    expect(kustomization.kind).toBe('Kustomization');
    expect(kustomization.configMapGenerator).toHaveLength(1);
    const [generator] = kustomization.configMapGenerator;
    expect(generator.name).toBe('floe-superset-dashboard');
    expect([...generator.files].sort()).toEqual(files.filter((name) => name !== 'kustomization.yaml'));
  });

  it('has one database, datasets on it, charts on those datasets, and a dashboard placing every chart once', () => {
    const database = load('database.yaml');
    expect(database.sqlalchemy_uri).toMatch(/^trino:\/\//);
    const datasets = files.filter((name) => /^dataset-.+\.yaml$/.test(name)).map(load);
    const charts = files.filter((name) => /^chart-.+\.yaml$/.test(name)).map(load);
    const dashboard = load('dashboard.yaml');
    expect(datasets.length).toBeGreaterThan(0);
    expect(charts.length).toBeGreaterThanOrEqual(5);
    const uuids = [database, ...datasets, ...charts, dashboard].map((d) => d.uuid);
    expect(new Set(uuids).size).toBe(uuids.length);
    for (const dataset of datasets) expect(dataset.database_uuid, dataset.table_name).toBe(database.uuid);
    const datasetUuids = new Set(datasets.map((d) => d.uuid));
    for (const chart of charts) {
      expect(datasetUuids.has(chart.dataset_uuid), chart.slice_name).toBe(true);
      expect(chart.params.viz_type, chart.slice_name).toBe(chart.viz_type);
      // GET /api/v1/chart/{id}/data/ (and Superset's reports) run the saved query context: every chart needs one.
      const context = JSON.parse(chart.query_context) as { queries: unknown[]; form_data: { viz_type: string } };
      expect(context.queries.length, chart.slice_name).toBeGreaterThan(0);
      expect(context.form_data.viz_type, chart.slice_name).toBe(chart.viz_type);
    }
    const placed = Object.values(dashboard.position as Record<string, any>)
      .filter((node) => node?.type === 'CHART')
      .map((node) => node.meta.uuid as string);
    expect([...placed].sort()).toEqual(charts.map((c) => c.uuid as string).sort());
  });
});
