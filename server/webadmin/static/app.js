// Zato web admin: uploads (file picker and drag and drop), live confirmations over Server-Sent Events, rollbacks and
// service invocations as XHRs carrying the session's CSRF token. No framework; text is always set with textContent.
'use strict';

(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : '';

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function badge(status) {
    return el('span', { class: 'badge status-' + status, text: status });
  }

  // post sends an XHR with the CSRF token and returns [status, json]. A lost session lands on the login page.
  async function post(url, body) {
    const resp = await fetch(url, {
      method: 'POST', body, credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Accept': 'application/json' },
    });
    if (resp.redirected && new URL(resp.url).pathname === '/admin/login') {
      location.assign('/admin/login?next=' + encodeURIComponent(location.pathname + location.search));
      throw new Error('logged out');
    }
    let data = null;
    try { data = await resp.json(); } catch (_) { data = { error: { message: 'HTTP ' + resp.status } }; }
    return [resp.status, data];
  }

  function errorDetail(err) {
    const box = el('div', { class: 'error-detail' },
      el('strong', { class: 'error-type', text: err.type || 'Error' }), ': ',
      el('span', { class: 'error-message', text: err.message || '' }));
    if (err.line) box.append(' ', el('span', { class: 'error-line', text: '(line ' + err.line + (err.column ? ', column ' + err.column : '') + ')' }));
    if (err.traceback) box.append(el('details', {}, el('summary', { text: 'Traceback' }), el('pre', { class: 'traceback', text: err.traceback })));
    return box;
  }

  function noticeCard(container, title, message) {
    const card = el('div', { class: 'card watcher failed', role: 'alert' },
      el('div', { class: 'watcher-head' }, el('strong', { text: title }), ' ', badge('failed')),
      el('p', { class: 'error-message', text: message }));
    container.prepend(card);
  }

  // watch shows a deployment and follows it live until every server has answered.
  function watch(container, initial, onDone) {
    let d = initial;
    const started = performance.now();
    const card = el('div', { class: 'card watcher', 'data-deployment-id': d.deployment_id, 'data-module': d.module });
    const title = el('strong', { class: 'watcher-module' });
    const link = el('a', { href: '/admin/deployments/' + d.deployment_id, text: '#' + d.deployment_id });
    const count = el('span', { class: 'count' });
    const status = el('span', { class: 'watcher-status' });
    const took = el('span', { class: 'muted watcher-took' });
    const servers = el('div', { class: 'watcher-servers' });
    const errors = el('div', { class: 'watcher-errors' });
    card.append(el('div', { class: 'watcher-head' }, title, ' ', link, ' ', status, ' ', count, ' ', took), servers, errors);
    container.prepend(card);

    function render() {
      title.textContent = d.module + (d.action === 'undeploy' ? ' (undeploy)' : d.version ? ' v' + d.version : '');
      count.textContent = d.confirmed + '/' + d.expected;
      count.title = d.confirmed + ' of ' + d.expected + ' servers confirmed';
      status.replaceChildren(badge(d.status));
      card.className = 'card watcher ' + d.status;
      servers.replaceChildren();
      errors.replaceChildren();
      d.servers.forEach((s, i) => {
        if (i > 0) servers.append(' · ');
        servers.append(el('span', { class: 'watcher-server status-text-' + s.status, 'data-server': s.name, text: s.name + ' ' + s.status }));
        if (s.error) errors.append(el('div', { class: 'watcher-error' }, el('span', { class: 'server-name', text: s.name + ': ' }), errorDetail(s.error)));
      });
      if (d.done) took.textContent = 'in ' + Math.round(performance.now() - started) + ' ms';
    }
    render();
    if (d.done) { if (onDone) onDone(d); return; }

    const es = new EventSource('/admin/deployments/' + d.deployment_id + '/events');
    es.addEventListener('deployment', (e) => { d = JSON.parse(e.data); render(); });
    es.addEventListener('server', (e) => {
      const s = JSON.parse(e.data);
      d.servers = d.servers.map((x) => (x.name === s.name ? s : x));
      d.confirmed = d.servers.filter((x) => x.status === 'deployed').length;
      render();
    });
    es.addEventListener('done', (e) => {
      es.close();
      d = JSON.parse(e.data);
      render();
      if (onDone) onDone(d);
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) took.textContent = 'lost the live connection: reload to see the outcome';
    };
  }

  // refreshRegions re-reads this page and swaps its [data-refresh] regions (tables that a finished deployment
  // changed), keeping the live cards above them.
  let refreshing = false, again = false;
  async function refreshRegions() {
    if (!document.querySelector('[data-refresh]')) return;
    if (refreshing) { again = true; return; } // one more pass once this one ends, so the last change shows
    refreshing = true;
    try {
      do {
        again = false;
        const resp = await fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } });
        if (!resp.ok || resp.redirected) return;
        const doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
        document.querySelectorAll('[data-refresh]').forEach((region) => {
          const fresh = doc.getElementById(region.id);
          if (fresh) region.replaceWith(document.importNode(fresh, true));
        });
      } while (again);
    } catch (_) {
      // the next finished deployment tries again
    } finally {
      refreshing = false;
    }
  }

  // ---- upload: file picker and drag and drop ----
  const uploadForm = document.getElementById('upload-form');
  const uploads = document.getElementById('uploads');
  async function upload(files) {
    if (!files || files.length === 0) return;
    const fd = new FormData();
    for (const f of files) fd.append('files', f, f.name);
    let status, data;
    try {
      [status, data] = await post('/admin/upload', fd);
    } catch (err) {
      if (err.message !== 'logged out') noticeCard(uploads, 'Upload failed', String(err));
      return;
    }
    for (const e of (data.errors || [])) noticeCard(uploads, e.file, e.message);
    if (data.error) noticeCard(uploads, 'Upload failed (HTTP ' + status + ')', data.error.message);
    for (const d of (data.deployments || [])) watch(uploads, d, refreshRegions);
  }
  if (uploadForm) {
    const input = document.getElementById('files');
    uploadForm.addEventListener('submit', (e) => {
      e.preventDefault();
      upload(Array.from(input.files)).finally(() => { input.value = ''; });
    });
    const zone = document.getElementById('dropzone');
    ['dragenter', 'dragover'].forEach((t) => zone.addEventListener(t, (e) => {
      e.preventDefault();
      zone.classList.add('over');
    }));
    ['dragleave', 'dragend'].forEach((t) => zone.addEventListener(t, () => zone.classList.remove('over')));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      upload(Array.from(e.dataTransfer.files));
    });
  }

  // ---- rollback and undeploy (delegated: refreshed regions bring new forms) ----
  const actions = document.getElementById('actions');
  document.addEventListener('submit', async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('js-deploy-form')) return;
    e.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const [status, data] = await post(form.action, new URLSearchParams(new FormData(form)));
      if (status === 202) {
        watch(actions, data, () => { button.disabled = false; refreshRegions(); });
      } else {
        noticeCard(actions, 'HTTP ' + status, (data.error && data.error.message) || 'failed');
        button.disabled = false;
      }
    } catch (err) {
      button.disabled = false;
      if (err.message !== 'logged out') noticeCard(actions, 'Request failed', String(err));
    }
  });

  // ---- a module's history: "source" opens that version's collapsed source ----
  function openSource(id) {
    const d = id && document.getElementById(id);
    if (d instanceof HTMLDetailsElement) d.open = true;
  }
  document.addEventListener('click', (e) => {
    const a = e.target instanceof Element ? e.target.closest('a.js-show-source') : null;
    if (a) openSource(a.hash.slice(1));
  });
  if (location.hash.startsWith('#source-v')) openSource(location.hash.slice(1));

  // ---- a deployment's page while it is still in flight ----
  const live = document.getElementById('live');
  if (live && live.dataset.deployment) {
    watch(live, JSON.parse(live.dataset.deployment), () => location.reload());
  }

  // ---- services: invoke ----
  const invokeForm = document.getElementById('invoke-form');
  if (invokeForm) {
    const result = document.getElementById('invoke-result');
    const select = document.getElementById('invoke-service');
    document.querySelectorAll('a.js-pick-service').forEach((a) => a.addEventListener('click', (e) => {
      e.preventDefault();
      select.value = a.dataset.service;
      document.getElementById('invoke-payload').focus();
    }));
    invokeForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const button = document.getElementById('invoke-button');
      button.disabled = true;
      result.replaceChildren(el('p', { class: 'muted', text: 'Invoking ' + select.value + '…' }));
      try {
        const [status, data] = await post(invokeForm.action, new URLSearchParams(new FormData(invokeForm)));
        const head = el('p', { class: 'invoke-status' }, badge(data.ok ? 'ok' : 'failed'),
          ' HTTP ' + status + ' · ' + (data.service || select.value) + (data.duration_ms !== undefined ? ' · ' + data.duration_ms.toFixed(1) + ' ms' : ''));
        result.replaceChildren(head);
        if (data.ok) {
          result.append(el('pre', { id: 'invoke-response', text: data.pretty || JSON.stringify(data.response, null, 2) }));
        } else if (data.error) {
          result.append(errorDetail(data.error));
        }
      } catch (err) {
        if (err.message !== 'logged out') result.replaceChildren(errorDetail({ type: 'RequestFailed', message: String(err) }));
      } finally {
        button.disabled = false;
      }
    });
  }
})();
