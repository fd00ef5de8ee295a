/**
 * The page's script, served as `assets/dashboard.js`. It polls the JSON API, draws the charts with
 * uPlot, and puts every string in place with `textContent` (never `innerHTML`): a CRM error body
 * holding `<script>` shows as text. The token (actions) lives in this script's memory only, and goes
 * in the `Authorization` header of each action. `window.etlifyDashboard` holds the last data shown
 * and the charts (for debugging, and for the browser tests that compare them with the database).
 */
export const CLIENT_JS = String.raw`'use strict';
(function () {
  var state = { range: 'hour', token: '', overview: null, charts: {}, search: null, timer: null };
  window.etlifyDashboard = state;
  var OUTCOMES = [
    ['synced', '#2e7d32'], ['not_modified', '#90a4ae'], ['failed', '#c62828'], ['parked', '#6a1b9a'],
    ['retried', '#ef6c00'], ['deleted', '#455a64'], ['rate_limited', '#f9a825']
  ];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) {
      if (key === 'text') node.textContent = attrs[key];
      else if (key === 'className') node.className = attrs[key];
      else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function $(root, selector) { return root.querySelector(selector); }
  function text(value) { return value === null || value === undefined ? '—' : String(value); }
  function ago(iso) { return iso ? duration((Date.now() - Date.parse(iso)) / 1000) + ' ago' : '—'; }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 90) return Math.round(seconds) + ' s';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min';
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
    return (seconds / 86400).toFixed(1) + ' d';
  }
  function table(node, head, rows, empty) {
    node.replaceChildren();
    if (!rows.length) { node.appendChild(el('tr', {}, [el('td', { className: 'empty', text: empty })])); return; }
    node.appendChild(el('tr', {}, head.map(function (h) { return el('th', { text: h[0], className: h[1] || '' }); })));
    rows.forEach(function (cells) {
      node.appendChild(el('tr', {}, cells.map(function (c, i) {
        if (c instanceof Node) return el('td', {}, [c]);
        return el('td', { text: text(c), className: head[i][1] || '' });
      })));
    });
  }
  function problem(message, ok) {
    var node = document.getElementById('problem');
    node.hidden = !message;
    node.textContent = message || '';
    node.style.background = ok ? '#e3f4e6' : '';
    node.style.color = ok ? '#1e6b2f' : '';
  }

  async function getJson(url, pending) {
    var response = await (pending || fetch(url, { cache: 'no-store', headers: { accept: 'application/json' } }));
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(body.error || ('HTTP ' + response.status));
    return body;
  }

  async function act(name, body) {
    if (!state.token) { problem('enter the dashboard token first (actions are guarded)'); return; }
    try {
      var response = await fetch('api/actions/' + name, {
        method: 'POST', cache: 'no-store',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' + state.token },
        body: JSON.stringify(body)
      });
      var result = await response.json().catch(function () { return {}; });
      if (!response.ok) throw new Error(result.error || ('HTTP ' + response.status));
      problem(name + ': ' + JSON.stringify(result), true);
    } catch (error) {
      problem(name + ' failed: ' + error.message);
    }
    await refresh();
    if (state.search) await search(state.search.term);
  }

  function button(label, onclick) { return el('button', { type: 'button', text: label, onclick: onclick }); }

  function chart(crm, key, node, series, data) {
    var id = crm + ':' + key;
    var existing = state.charts[id];
    if (existing && existing.series.length === series.length + 1) { existing.setData(data); return; }
    if (existing) existing.destroy();
    node.replaceChildren();
    state.charts[id] = new uPlot({
      width: Math.max(320, node.clientWidth || 480), height: 180,
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s) { return { label: s[0], stroke: s[1], width: 1.5, points: { show: false } }; })),
      axes: [{}, { size: 50 }]
    }, data, node);
  }

  function renderCrm(crm, chartData) {
    var main = document.getElementById('crms');
    var section = main.querySelector('section[data-crm="' + CSS.escape(crm.name) + '"]');
    if (!section) {
      section = document.getElementById('crm-template').content.firstElementChild.cloneNode(true);
      section.dataset.crm = crm.name;
      main.appendChild(section);
    }
    $(section, '.crm-name').textContent = crm.name;
    var badge = $(section, '.badge');
    badge.textContent = !crm.enabled ? 'disabled' : crm.paused ? 'paused' : 'running';
    badge.className = 'badge ' + (!crm.enabled ? 'disabled' : crm.paused ? 'paused' : 'running');

    var actions = $(section, '.crm-actions');
    actions.replaceChildren();
    if (state.overview.actions) {
      actions.appendChild(crm.paused
        ? button('resume ' + crm.name, function () { act('resume', { crm: crm.name }); })
        : button('pause ' + crm.name, function () { act('pause', { crm: crm.name }); }));
    }

    var tiles = $(section, '.tiles');
    tiles.replaceChildren();
    [['queued', crm.queue.queued], ['in flight', crm.queue.inFlight], ['retrying', crm.queue.retrying, crm.queue.retrying > 0],
     ['oldest waiting', duration(crm.queue.oldestWaitingSeconds)], ['failing', crm.failing, crm.failing > 0], ['parked', crm.parked, crm.parked > 0]]
      .forEach(function (t) {
        tiles.appendChild(el('div', { className: 'tile' + (t[2] ? ' bad' : ''), 'data-tile': t[0] }, [
          el('div', { className: 'label', text: t[0] }), el('div', { className: 'value', text: text(t[1]) })]));
      });

    if (chartData) {
      chart(crm.name, 'outcomes', $(section, '.chart-outcomes'), OUTCOMES,
        [chartData.t].concat(OUTCOMES.map(function (o) { return chartData.series[o[0]]; })));
      chart(crm.name, 'queue', $(section, '.chart-queue'), [['queued', '#4a7bd0']], [chartData.t, chartData.series.queued]);
    }

    var limits = $(section, '.rate-limit');
    limits.replaceChildren();
    if (!crm.rateLimit.length) limits.appendChild(el('p', { className: 'empty', text: 'no rate limit configured' }));
    crm.rateLimit.forEach(function (l) {
      var share = l.max ? Math.min(1, l.used / l.max) : 0;
      var bar = el('div'); bar.style.width = (share * 100).toFixed(1) + '%';
      limits.appendChild(el('div', { 'data-bucket': l.bucket }, [
        el('span', { text: l.bucket + ': ' + l.used + ' of ' + l.max + ' requests per ' + duration(l.perMs / 1000) }),
        el('div', { className: 'meter' }, [bar])]));
    });

    table($(section, '.entities'), [['entity'], ['queued', 'num'], ['in flight', 'num'], ['retrying', 'num'], ['oldest waiting', 'num'], ['failing', 'num'], ['parked', 'num']],
      crm.entities.map(function (e) { return [e.entity, e.queued, e.inFlight, e.retrying, duration(e.oldestWaitingSeconds), e.failing, e.parked]; }),
      'nothing queued or failing');

    table($(section, '.errors'), [['reason'], ['kind'], ['records', 'num'], ['latest']],
      crm.errors.map(function (e) {
        var cell = el('div', { className: 'error', text: e.example });
        cell.title = e.reason;
        return [cell, e.kind, e.records, ago(e.lastAt)];
      }), 'no errors');

    var parkedActions = $(section, '.parked-actions');
    parkedActions.replaceChildren();
    var head = [['entity'], ['id'], ['CRM id'], ['errors', 'num'], ['last error', 'error'], ['when']];
    if (state.overview.actions) head.unshift(['']);
    table($(section, '.parked'), head, crm.parkedRecords.map(function (r) {
      var row = [r.entity, r.id, r.crmId, r.errorCount, r.error, ago(r.lastErrorAt)];
      if (state.overview.actions) row.unshift(el('input', { type: 'checkbox', 'data-entity': r.entity, 'data-id': r.id, 'aria-label': 'select ' + r.entity + ' ' + r.id }));
      return row;
    }), 'no parked records');
    if (state.overview.actions && crm.parkedRecords.length) {
      var selected = function () {
        return Array.prototype.map.call($(section, '.parked').querySelectorAll('input:checked'), function (box) { return { entity: box.dataset.entity, id: box.dataset.id }; });
      };
      var perEntity = function (name) {
        var chosen = selected();
        if (!chosen.length) { problem('select parked records first'); return; }
        var entities = Array.from(new Set(chosen.map(function (c) { return c.entity; })));
        entities.forEach(function (entity) {
          act(name, { crm: crm.name, entity: entity, ids: chosen.filter(function (c) { return c.entity === entity; }).map(function (c) { return c.id; }) });
        });
      };
      parkedActions.appendChild(button('reset selected', function () { perEntity('reset'); }));
      parkedActions.appendChild(button('retry selected now', function () { perEntity('retry'); }));
      Array.from(new Set(crm.parkedRecords.map(function (r) { return r.entity; }))).forEach(function (entity) {
        parkedActions.appendChild(button('reset all parked ' + entity, function () { act('reset', { crm: crm.name, entity: entity }); }));
      });
    }
  }

  function render() {
    var overview = state.overview;
    document.getElementById('updated').textContent = 'updated ' + new Date(overview.generatedAt).toLocaleTimeString() + (overview.actions ? ' · actions enabled' : ' · read-only');
    document.getElementById('token-form').hidden = !overview.actions;
    overview.crms.forEach(function (crm) { renderCrm(crm, overview.charts[crm.name]); });
  }

  function overviewOf(range) { return getJson('api/overview?range=' + encodeURIComponent(range)); }

  async function refresh(pending) {
    clearTimeout(state.timer);
    try {
      state.overview = await (pending || overviewOf(state.range));
      render();
      if (!document.getElementById('problem').style.background) problem('');
    } catch (error) {
      problem('could not load the dashboard data: ' + error.message);
    }
    state.timer = setTimeout(refresh, state.overview ? state.overview.refreshMs : 5000);
  }

  async function search(term) {
    var results = document.getElementById('results');
    if (!term) { results.hidden = true; state.search = null; return; }
    try {
      var found = await getJson('api/search?q=' + encodeURIComponent(term));
      state.search = found;
      results.replaceChildren(el('h2', { text: found.records.length + ' record(s) for ' + JSON.stringify(term) }));
      found.records.forEach(function (r) {
        var box = el('div', { className: 'record', 'data-crm': r.crm, 'data-entity': r.entity, 'data-id': r.id });
        box.appendChild(el('h3', { text: r.crm + ' · ' + r.entity + ' ' + r.id }));
        var status = r.parked ? 'parked' : r.errorCount ? 'failing' : r.queued ? (r.queued.inFlight ? 'in flight' : 'queued') : r.crmId ? 'synced' : 'not synced';
        var facts = el('table', { className: 'facts' });
        table(facts, [['CRM id'], ['status'], ['last synced'], ['last outcome'], ['errors', 'num'], ['last error', 'error']],
          [[r.crmId, status, ago(r.lastSyncedAt), r.lastOutcome, r.errorCount, r.lastError || (r.queued && r.queued.lastError)]], '');
        box.appendChild(facts);
        if (state.overview && state.overview.actions) {
          box.appendChild(el('div', { className: 'crm-actions' }, [
            button('retry now', function () { act('retry', { crm: r.crm, entity: r.entity, ids: [r.id] }); }),
            r.parked ? button('reset', function () { act('reset', { crm: r.crm, entity: r.entity, ids: [r.id] }); }) : null]));
        }
        var attempts = el('table', { className: 'attempts' });
        table(attempts, [['when'], ['kind'], ['outcome'], ['CRM id'], ['requests', 'num'], ['ms', 'num'], ['error', 'error']],
          r.attempts.map(function (a) { return [new Date(a.at).toLocaleString(), a.kind, a.outcome, a.crmId, a.requests, a.durationMs, a.error]; }),
          'no attempt in the history');
        box.appendChild(attempts);
        results.appendChild(box);
      });
      results.hidden = false;
    } catch (error) {
      problem('search failed: ' + error.message);
    }
  }

  // the first data: asked for by the page's inline script, while this script, the charting library and the styles load
  var first = window.etlifyFirstData ? getJson('api/overview?range=hour', window.etlifyFirstData) : overviewOf(state.range);
  first.catch(function () {}); // reported by refresh(), once the page can show it
  function start() {
    document.getElementById('ranges').addEventListener('click', function (event) {
      var range = event.target.dataset && event.target.dataset.range;
      if (!range) return;
      state.range = range;
      document.querySelectorAll('#ranges button').forEach(function (b) { b.classList.toggle('active', b.dataset.range === range); });
      refresh();
    });
    document.getElementById('search').addEventListener('submit', function (event) {
      event.preventDefault();
      search(document.getElementById('search-term').value.trim());
    });
    document.getElementById('token-form').addEventListener('submit', function (event) { event.preventDefault(); });
    document.getElementById('token').addEventListener('input', function (event) { state.token = event.target.value; });
    refresh(first);
  }
  // the deferred charting library has run by DOMContentLoaded; this script may run before or after it
  if (window.uPlot || document.readyState === 'complete') start();
  else document.addEventListener('DOMContentLoaded', start);
})();
`;
