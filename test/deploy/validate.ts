/**
 * Offline validation of a rendered overlay: every document against its CRD schema in strict mode (or a structural
 * check where the reference has no schema), the Knative webhook rules, the cross-references of the pipeline, and what
 * a real cluster would do with it (cluster-rules.ts).
 * Lives with the tests because it reads the CRD schemas from the test fixtures, which floe does not ship; `floe` users
 * validate by rendering with kubectl and applying with server-side dry-run.
 */
import { clusterProblems, type ClusterCheckOptions } from './cluster-rules.ts';
import { crossReferenceProblems, type CrossCheckOptions } from './cross-refs.ts';
import { hasSchema, schemaProblems } from './schema.ts';
import { hasRules, webhookProblems } from './webhook-rules.ts';
import { problem, type K8sObject, type Problem } from './problem.ts';
import { workloadReferenceProblems } from './workload-rules.ts';

export type ValidateOptions = CrossCheckOptions & ClusterCheckOptions;

export function validateDocument(object: K8sObject): Problem[] {
  const schema = hasSchema(object) ? schemaProblems(object) : [];
  if (!hasSchema(object) && !hasRules(object)) {
    return [problem(object, '', `no CRD schema and no structural check for ${object.apiVersion} ${object.kind}`)];
  }
  return unique([...schema, ...webhookProblems(object)]);
}

export function validateRender(objects: readonly K8sObject[], options: ValidateOptions = {}): Problem[] {
  const perDocument = objects.flatMap(validateDocument);
  const names = new Map<string, number>();
  for (const object of objects) {
    const key = `${object.apiVersion}/${object.kind}/${object.metadata?.name}`;
    names.set(key, (names.get(key) ?? 0) + 1);
  }
  const duplicates = [...names]
    .filter(([, count]) => count > 1)
    .map(([key]) => problem(key, '', 'defined more than once'));
  return [
    ...perDocument,
    ...duplicates,
    ...crossReferenceProblems(objects, options),
    ...workloadReferenceProblems(objects, options),
    ...clusterProblems(objects, options),
  ];
}

/** The schema and the webhook rules may both report an unknown field; say it once. */
function unique(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.object}|${p.path}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
