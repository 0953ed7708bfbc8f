/* global document, window, location, history, Chart, URLSearchParams */
// The floe dashboard page: polls the JSON API (dashboard/README.md) every few seconds and renders each panel
// only when its data changed. Every panel has its own loading and error state, so one failing endpoint never blanks
// the page. Values from the API are put in the DOM as text, never as HTML.
'use strict';

const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(1, Number(params.get('refresh')) || 5) * 1000;
const state = {
  table: params.get('table'),
  ref: params.get('ref') || 'main',
  where: params.get('where') || '',
  limit: params.get('limit') || '20',
};
const lastRendered = new Map();
const charts = new Map();

// ---- helpers ---------------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = value;
    else if (name === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat())
    node.append(
      child instanceof window.Node
        ? child
        : document.createTextNode(child === null || child === undefined ? '' : String(child)),
    );
  return node;
}

function fill(tbody, rows, emptyText, columns) {
  tbody.replaceChildren(
    ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: columns, className: 'muted' }, emptyText))]),
  );
}

const numberFormat = new Intl.NumberFormat('en-US');
const count = (n) => (n === null || n === undefined ? '–' : numberFormat.format(n));

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[unit]}`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

function time(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString('en-GB', { hour12: false });
}

function setState(id, kind, text) {
  const node = $(id);
  node.className = `panel-state ${kind || ''}`;
  node.textContent = text || '';
}

class ApiError extends Error {}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json' } });
  } catch (err) {
    throw new ApiError(`the dashboard server is unreachable (${err.message})`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`HTTP ${response.status}: the answer is not JSON`);
  }
  if (!response.ok) throw new ApiError(body && body.error ? body.error : `HTTP ${response.status}`);
  return body;
}

/**
 * Fetches a panel's data and runs `render` unless it equals what was rendered last; on failure shows the error in the
 * panel's state box (and calls `onError`), so a failing endpoint is visible instead of leaving a blank panel.
 */
async function panel(key, stateId, path, render, onError) {
  let data;
  try {
    data = await api(path);
  } catch (err) {
    lastRendered.delete(key);
    if (stateId) setState(stateId, 'error', err.message);
    if (onError) onError(err);
    return false;
  }
  const text = JSON.stringify(data, (name, value) => (name === 'generatedAt' ? undefined : value));
  if (lastRendered.get(key) !== text) {
    if (stateId) setState(stateId, '', '');
    lastRendered.set(key, text);
    render(data);
  }
  return true;
}

function chart(id, config) {
  const existing = charts.get(id);
  if (existing) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update('none');
    return existing;
  }
  const created = new Chart($(id), config);
  charts.set(id, created);
  return created;
}

const timeAxis = {
  type: 'linear',
  ticks: { maxTicksLimit: 6, callback: (value) => new Date(value).toLocaleTimeString('en-GB', { hour12: false }) },
};

// ---- overview --------------------------------------------------------------------------------------------------

function renderOverview(o) {
  const metric = (name, text) => (document.querySelector(`[data-metric="${name}"]`).textContent = text);
  metric('trustedRows', count(o.tables.trustedRows));
  metric('untrustedRows', count(o.tables.untrustedRows));
  metric('tables', count(o.tables.count));
  metric('files', `${count(o.tables.files)} / ${bytes(o.tables.bytes)}`);
  metric('openBranches', count(o.pipeline.openBranches));
  metric(
    'latency',
    o.pipeline.latency ? `${duration(o.pipeline.latency.p50)} / ${duration(o.pipeline.latency.p90)}` : '–',
  );
  metric('deadletters', count(o.deadletters.total));
  const last = o.maintenance.last;
  metric(
    'maintenance',
    last
      ? `${last.job} · ${time(last.at)}${last.errors.length ? ` · ${last.errors.length} errors` : ''}`
      : 'no runs yet',
  );
}

// ---- tables ----------------------------------------------------------------------------------------------------

let tableNames = [];

function renderTables(view) {
  tableNames = view.tables.map((t) => t.name);
  if (!state.table && view.tables.length) {
    state.table = (view.tables.find((t) => t.kind === 'trusted') || view.tables[0]).name;
    refreshSelection();
  }
  const rows = view.tables.map((t) =>
    el(
      'tr',
      {
        className: `selectable${t.name === state.table ? ' selected' : ''}`,
        'data-table': t.name,
        onclick: () => select(t.name),
      },
      el('td', {}, el('code', {}, t.name)),
      el('td', { className: t.error ? 'error-text' : null }, t.error ? `unreadable: ${t.error}` : t.kind),
      el('td', { className: 'num', 'data-field': 'rows' }, count(t.rows)),
      el('td', { className: 'num' }, count(t.files)),
      el('td', { className: 'num' }, bytes(t.bytes)),
      el('td', { className: 'num' }, count(t.snapshots)),
      el('td', {}, t.lastPublish ? time(t.lastPublish.at) : '–'),
    ),
  );
  fill($('tables-list'), rows, 'no tables on main yet', 7);
  const select_ = $('browser-table');
  const options = [...new Set([...tableNames, ...(state.table ? [state.table] : [])])];
  if ([...select_.options].map((o) => o.value).join() !== options.join()) {
    select_.replaceChildren(...options.map((name) => el('option', { value: name }, name)));
  }
  select_.value = state.table || '';
}

function select(name) {
  state.table = name;
  state.ref = 'main';
  state.where = '';
  refreshSelection();
}

function refreshSelection() {
  const query = new URLSearchParams();
  if (state.table) query.set('table', state.table);
  if (state.ref !== 'main') query.set('ref', state.ref);
  if (state.where) query.set('where', state.where);
  if (state.limit !== '20') query.set('limit', state.limit);
  history.replaceState(null, '', `${location.pathname}${query.toString() ? `?${query}` : ''}`);
  $('browser-table').value = state.table || '';
  $('browser-ref').value = state.ref;
  $('browser-where').value = state.where;
  $('browser-limit').value = state.limit;
  for (const row of document.querySelectorAll('#tables-list tr[data-table]'))
    row.classList.toggle('selected', row.dataset.table === state.table);
  lastRendered.delete('detail');
  lastRendered.delete('rows');
  void refreshDetail();
  void refreshRows();
}

function historyPoints(points) {
  return points.filter((p) => p.totalRecords !== null).map((p) => ({ x: Date.parse(p.at), y: p.totalRecords }));
}

function renderDetail(d) {
  $('detail-body').classList.remove('hidden');
  const facts = [
    ['rows', count(d.rows)],
    ['data files', count(d.fileStats.dataFiles)],
    ['size', bytes(d.fileStats.bytes)],
    ['average file', bytes(d.fileStats.averageBytes)],
    ['delete files', count(d.fileStats.deleteFiles)],
    ['snapshots', count(d.snapshots)],
    ['last publish', d.lastPublish ? `${time(d.lastPublish.at)} (${d.lastPublish.batchId})` : '–'],
    ['format', `v${d.formatVersion}`],
  ];
  if (d.quality.trusted) facts.push(['trusted rows', count(d.quality.trusted.rows)]);
  if (d.quality.untrusted) facts.push(['untrusted rows', count(d.quality.untrusted.rows)]);
  $('detail-facts').replaceChildren(
    ...facts.map(([label, value]) =>
      el('div', { 'data-fact': label }, el('span', {}, `${label}: `), el('b', {}, value)),
    ),
  );

  const series = [];
  if (d.quality.trusted || d.quality.untrusted) {
    if (d.quality.trusted)
      series.push({
        label: d.quality.trusted.table,
        data: historyPoints(d.quality.trusted.history),
        borderColor: '#15803d',
        backgroundColor: '#15803d',
      });
    if (d.quality.untrusted)
      series.push({
        label: d.quality.untrusted.table,
        data: historyPoints(d.quality.untrusted.history),
        borderColor: '#c2410c',
        backgroundColor: '#c2410c',
      });
  } else {
    series.push({ label: d.name, data: historyPoints(d.history), borderColor: '#2563eb', backgroundColor: '#2563eb' });
  }
  chart('chart-rows', {
    type: 'line',
    data: { datasets: series.map((s) => ({ ...s, stepped: true, pointRadius: 2 })) },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      scales: { x: timeAxis, y: { beginAtZero: true } },
    },
  });
  chart('chart-files', {
    type: 'bar',
    data: {
      labels: d.fileStats.histogram.map((b) => b.label),
      datasets: [{ label: 'data files', data: d.fileStats.histogram.map((b) => b.count), backgroundColor: '#2563eb' }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  $('small-files').textContent =
    `${count(d.fileStats.smallFiles)} of ${count(d.fileStats.dataFiles)} below ${bytes(d.fileStats.smallThresholdBytes)}`;
  const reasons = d.quality.untrusted ? d.quality.untrusted.reasons : [];
  chart('chart-reasons', {
    type: 'bar',
    data: {
      labels: reasons.map((r) => r.reason),
      datasets: [{ label: 'untrusted rows', data: reasons.map((r) => r.count), backgroundColor: '#c2410c' }],
    },
    options: {
      indexAxis: 'y',
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });

  fill(
    $('detail-schema'),
    d.schema.map((f) => el('tr', {}, el('td', {}, f.name), el('td', {}, f.type + (f.required ? ' (required)' : '')))),
    'no columns',
    2,
  );
  $('detail-partitioning').textContent = d.partitionSpec.length
    ? `partitioned by ${d.partitionSpec.map((p) => `${p.transform}(${p.source})`).join(', ')}`
    : 'unpartitioned';
  const messages = d.quality.untrusted ? d.quality.untrusted.messages : [];
  fill(
    $('detail-messages'),
    messages.map((m) => el('tr', {}, el('td', {}, m.reason), el('td', { className: 'num' }, count(m.count)))),
    'no untrusted rows',
    2,
  );
}

async function refreshDetail() {
  $('detail-name').textContent = state.table || '–';
  $('detail-ref').textContent = state.ref;
  if (!state.table) {
    setState('detail-state', 'empty', 'no table selected');
    return true;
  }
  const path = `/api/tables/${encodeURIComponent(state.table)}?ref=${encodeURIComponent(state.ref)}`;
  return panel('detail', 'detail-state', path, renderDetail, () => $('detail-body').classList.add('hidden'));
}

// ---- pipeline --------------------------------------------------------------------------------------------------

function renderBranches(b) {
  const stageNames = ['writing', 'written', 'audited', 'published', 'rejected'];
  $('stages').replaceChildren(
    ...stageNames.map((s) =>
      el(
        'div',
        { className: 'stage', 'data-stage': s },
        el('span', { className: `badge ${s}` }, s),
        el('b', {}, count(b.stages[s])),
      ),
    ),
    el(
      'div',
      { className: 'stage' },
      'publish latency',
      el(
        'b',
        {},
        b.latency
          ? `p50 ${duration(b.latency.p50)} · p90 ${duration(b.latency.p90)} · p99 ${duration(b.latency.p99)}`
          : '–',
      ),
    ),
  );
  fill(
    $('branches'),
    b.branches.map((x) =>
      el(
        'tr',
        { 'data-branch': x.branch, 'data-batch': x.batchId, 'data-stage': x.stage },
        el('td', {}, el('code', {}, x.branch)),
        el('td', {}, el('span', { className: `badge ${x.stage}` }, x.stage)),
        el('td', { className: 'num' }, duration(x.ageMs)),
        el(
          'td',
          {},
          x.verdict
            ? `${x.verdict}: ${count(x.trusted)} trusted, ${count(x.untrusted)} untrusted${x.reason ? ` — ${x.reason}` : ''}`
            : x.rows !== null
              ? `${count(x.rows)} rows`
              : '',
        ),
      ),
    ),
    'no open WAP branches',
    4,
  );
  fill(
    $('recent'),
    b.recent.map((r) =>
      el(
        'tr',
        { 'data-batch': r.batchId, 'data-outcome': r.outcome },
        el('td', {}, el('code', {}, r.batchId)),
        el('td', {}, r.table || '–'),
        el('td', {}, el('span', { className: `badge ${r.outcome}` }, r.outcome)),
        el('td', { className: 'num' }, duration(r.latencyMs)),
        el('td', {}, time(r.at)),
      ),
    ),
    'nothing published yet',
    5,
  );
  const refs = $('refs');
  const names = b.references.map((r) => r.name);
  if ([...refs.options].map((o) => o.value).join() !== names.join())
    refs.replaceChildren(...names.map((name) => el('option', { value: name })));
}

function renderFunctions(f) {
  if (!f.functions.length) {
    setState(
      'functions-state',
      'empty',
      'no function URLs configured (floe dashboard --function NAME=URL, or FLOE_FUNCTION_URLS)',
    );
  }
  fill(
    $('functions'),
    f.functions.map((x) =>
      el(
        'tr',
        { 'data-function': x.name },
        el('td', {}, x.name),
        el(
          'td',
          {},
          el(
            'span',
            { className: `badge ${x.up ? 'up' : 'down'}`, title: x.error || '' },
            x.up ? 'up' : `down: ${x.error}`,
          ),
        ),
        el('td', { className: 'num' }, count(x.totals.received)),
        el('td', { className: 'num' }, count(x.totals.emitted)),
        el('td', { className: 'num' }, count(x.totals.errors)),
      ),
    ),
    'no functions',
    5,
  );
}

function renderDeadletters(d) {
  $('deadletter-total').textContent = `${count(d.total)}${d.truncated ? '+' : ''}`;
  fill(
    $('deadletters'),
    d.recent.map((x) =>
      el(
        'tr',
        {},
        el('td', {}, time(x.storedAt)),
        el('td', {}, x.type || '–'),
        el('td', {}, x.destination || '–'),
        el('td', {}, x.error ? `unreadable: ${x.error}` : x.code || '–'),
      ),
    ),
    'no dead-lettered events',
    4,
  );
}

// ---- maintenance -----------------------------------------------------------------------------------------------

function tablesText(tables) {
  if (!tables.length) return '–';
  const changed = tables.filter((t) => t.outcome === 'committed').length;
  return tables.length === 1
    ? `${tables[0].table} (${tables[0].outcome || '?'})`
    : `${tables.length} tables, ${changed} changed`;
}

function renderMaintenance(m) {
  const jobs = Object.values(m.lastByJob).map((r) => `${r.job}: ${time(r.at)}`);
  $('maintenance-summary').textContent = m.total
    ? `Reclaimed ${bytes(m.reclaimed.bytes)} and ${count(m.reclaimed.files)} files, ${count(m.reclaimed.deleted)} objects deleted (last ${count(m.runs.length)} runs). Last runs — ${jobs.join(' · ')}`
    : 'No maintenance run has reported yet.';
  const unreadable = m.unreadable.map((u) =>
    el('tr', {}, el('td', { colspan: 8, className: 'muted' }, `unreadable report ${u.location}: ${u.error}`)),
  );
  fill(
    $('maintenance-runs'),
    [
      ...m.runs.map((r) =>
        el(
          'tr',
          { 'data-job': r.job },
          el('td', {}, time(r.at)),
          el('td', {}, r.job),
          el('td', {}, tablesText(r.tables)),
          el(
            'td',
            { className: 'num' },
            r.filesBefore !== null ? `${count(r.filesBefore)} → ${count(r.filesAfter)}` : '–',
          ),
          el('td', { className: 'num' }, bytes(r.bytesReclaimed)),
          el('td', { className: 'num' }, count(r.deleted)),
          el('td', { className: 'num' }, duration(r.durationMs)),
          el('td', {}, [r.dryRun ? 'dry run' : '', ...r.errors].filter(Boolean).join('; ')),
        ),
      ),
      ...unreadable,
    ],
    'no runs',
    8,
  );
}

// ---- tags ----------------------------------------------------------------------------------------------------

function renderTags(t) {
  fill(
    $('tags-list'),
    t.tags.map((tag) =>
      el(
        'tr',
        { 'data-tag': tag.name },
        el('td', {}, el('code', {}, tag.name)),
        el('td', {}, tag.createdAt ? time(tag.createdAt) : '–'),
        el('td', {}, tag.tables.map((x) => `${x.table} ${count(x.rows)}`).join(' · ') || '–'),
        el(
          'td',
          {},
          [tag.message, tag.retentionMs !== null ? `kept ${duration(tag.retentionMs)}` : ''].filter(Boolean).join('; '),
        ),
      ),
    ),
    'no tags (floe tag create NAME)',
    4,
  );
}

// ---- table browser ---------------------------------------------------------------------------------------------

function cellFor(value, isFile) {
  if (isFile && value && typeof value === 'object' && value.uri) {
    const isImage = typeof value.content_type === 'string' && value.content_type.startsWith('image/');
    const link = `/api/blob?uri=${encodeURIComponent(value.uri)}`;
    return el(
      'td',
      {},
      isImage
        ? el(
            'a',
            { href: link, target: '_blank', rel: 'noopener' },
            el('img', {
              className: 'thumb',
              src: link,
              alt: `${value.content_type} ${value.size_bytes} bytes`,
              loading: 'lazy',
            }),
          )
        : el('a', { href: link }, `${value.content_type || 'blob'} (${bytes(value.size_bytes)})`),
    );
  }
  const text =
    value === null || value === undefined ? '∅' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return el('td', { className: 'cell', title: text.length > 40 ? text.slice(0, 2000) : null }, text);
}

function renderRows(view) {
  const files = new Set(view.fileColumns);
  // Images first: they are what a person looks for, and wide tables push the last columns off screen.
  const columns = [...view.columns.filter((c) => files.has(c.name)), ...view.columns.filter((c) => !files.has(c.name))];
  $('rows-head').replaceChildren(el('tr', {}, ...columns.map((c) => el('th', { title: c.type }, c.name))));
  fill(
    $('rows-body'),
    view.rows.map((row) => el('tr', {}, ...columns.map((c) => cellFor(row[c.name], files.has(c.name))))),
    'no rows match',
    columns.length || 1,
  );
  setState(
    'browser-state',
    view.rows.length ? 'info' : 'empty',
    view.rows.length
      ? `${view.rows.length}${view.more ? '+' : ''} newest rows of ${view.table} on ${view.ref}`
      : `no rows in ${view.table} on ${view.ref}${state.where ? ' match the filter' : ''}`,
  );
}

async function refreshRows() {
  if (!state.table) return true;
  const query = new URLSearchParams({ ref: state.ref, limit: state.limit });
  if (state.where) query.set('where', state.where);
  return panel(
    'rows',
    'browser-state',
    `/api/tables/${encodeURIComponent(state.table)}/rows?${query}`,
    renderRows,
    () => {
      $('rows-head').replaceChildren();
      $('rows-body').replaceChildren();
    },
  );
}

$('browser-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.table = $('browser-table').value || state.table;
  state.ref = $('browser-ref').value.trim() || 'main';
  state.where = $('browser-where').value.trim();
  state.limit = $('browser-limit').value.trim() || '20';
  refreshSelection();
});

// ---- polling ---------------------------------------------------------------------------------------------------

async function poll() {
  const results = await Promise.all([
    panel('overview', null, '/api/overview', renderOverview),
    panel('tables', 'tables-state', '/api/tables', renderTables),
    panel('branches', 'pipeline-state', '/api/branches', renderBranches),
    panel('functions', 'functions-state', '/api/functions', renderFunctions),
    panel('deadletters', 'deadletters-state', '/api/deadletters', renderDeadletters),
    panel('maintenance', 'maintenance-state', '/api/maintenance', renderMaintenance),
    panel('tags', 'tags-state', '/api/tags', renderTags),
    refreshDetail(),
    refreshRows(),
  ]);
  const status = $('status');
  const failed = results.filter((ok) => !ok).length;
  status.className = `status ${failed ? 'error' : 'ok'}`;
  status.textContent = failed
    ? `${failed} panel${failed > 1 ? 's' : ''} failed to load · ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`
    : `updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  window.setTimeout(poll, REFRESH_MS);
}

setState('tables-state', 'loading', 'loading…');
setState('pipeline-state', 'loading', 'loading…');
setState('detail-state', 'loading', 'loading…');
refreshSelection();
void poll();
