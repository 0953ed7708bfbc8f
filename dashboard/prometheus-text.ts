/**
 * The Prometheus text exposition format (what prom-client serves at `/metrics`), read into samples. Only what the
 * dashboard needs: sample lines with labels and values; `# HELP`/`# TYPE` and timestamps are skipped.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

// Prometheus reads values with Go's strconv.ParseFloat, which takes NaN and Inf in any case; prom-client writes `Nan`
// for a gauge with no sample yet (its event-loop lag before the first sampling tick).
function parseValue(text: string): number | undefined {
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf' || special === '+infinity' || special === 'infinity') return Infinity;
  if (special === '-inf' || special === '-infinity') return -Infinity;
  if (special === 'nan') return NaN;
  const value = Number(text);
  return text.trim() !== '' && !Number.isNaN(value) ? value : undefined;
}

function unescapeLabel(text: string): string {
  return text.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (!match) {
      if (text.slice(at).trim() === '') break;
      throw new Error(`line ${line}: malformed labels '${text}'`);
    }
    labels[match[1]] = unescapeLabel(match[2]);
  }
  return labels;
}

/** Samples of a Prometheus text page; throws naming the line when a sample line does not parse. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const match = SAMPLE.exec(line);
    const value = match && parseValue(match[4]);
    if (!match || value === undefined || value === null)
      throw new Error(`line ${i + 1}: not a Prometheus sample: '${line.slice(0, 120)}'`);
    samples.push({ name: match[1], labels: match[3] ? parseLabels(match[3], i + 1) : {}, value });
  });
  return samples;
}

/** Sum of a metric's samples, grouped by one label (samples without it count under ''). */
export function sumBy(samples: Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const key = sample.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + sample.value;
  }
  return out;
}
