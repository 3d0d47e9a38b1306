// activity viewer. Runs under Content-Security-Policy: default-src 'self'.
// Every value from the log is written with textContent or as an attribute value:
// nothing is parsed as HTML. Charts are SVG elements made here (no library, no CDN).
'use strict';
(function () {
  const body = document.body;
  const base = body.dataset.base;
  const isAdmin = body.dataset.role === 'admin';
  const lang = body.dataset.lang || 'en';
  const notYou = body.dataset.notYou || '';
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : '';
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const form = $('filters');
  const status = $('status');
  let cursors = [null]; // cursors[i]: where page i starts
  let pageIndex = 0;
  let next = null;
  // Categories whose rows a person may not recognise: they get a "Not you?" link.
  const PERSONAL = ['auth', 'mfa', 'password', 'session'];

  for (const el of document.querySelectorAll(isAdmin ? '.admin-only' : '.user-only')) el.hidden = false;
  if (notYou && !isAdmin) {
    $('not-you-top').href = notYou;
    $('not-you-intro').hidden = false;
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function scope() {
    return isAdmin ? $('scope').value : 'own';
  }

  function localToIso(value) {
    if (!value) return null;
    const d = new Date(value); // datetime-local is the viewer's local time
    return isNaN(d.getTime()) ? null : d.toISOString();
  }

  function filters() {
    const p = new URLSearchParams();
    p.set('scope', scope());
    const since = localToIso($('since').value);
    const until = localToIso($('until').value);
    if (since) p.set('since', since);
    if (until) p.set('until', until);
    const action = $('action').value.trim() || $('category').value;
    if (action) p.set('action', action);
    if ($('outcome').value) p.set('outcome', $('outcome').value);
    const user = $('user').value.trim();
    if (isAdmin && scope() === 'tenant' && user) p.set('user', user);
    const ip = $('ip').value.trim();
    if (ip) p.set('ip', ip);
    return p;
  }

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }

  function when(iso) {
    const t = document.createElement('time');
    t.dateTime = iso;
    const d = new Date(iso);
    t.textContent = isNaN(d.getTime()) ? iso : d.toLocaleString();
    t.title = iso + ' (UTC)';
    return t;
  }

  function cell(row, content, className) {
    const td = document.createElement('td');
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content == null ? '' : String(content);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function who(e) {
    if (!e.actor) return '';
    return e.actor.name || e.actor.id || '';
  }

  function place(e) {
    const g = e.source && e.source.geo;
    if (!g) return '';
    return [g.city, g.country].filter(Boolean).join(', ');
  }

  function what(e) {
    return e.reason ? e.action + ' (' + e.reason + ')' : e.action;
  }

  // The sentence, the current-session marks and, on the user's own page, "Not you?".
  function activity(e, d) {
    const wrap = el('div', null, 'activity');
    const s = el('span', d ? d.sentence : what(e), 'sentence');
    s.lang = lang;
    wrap.appendChild(s);
    if (d && d.this_session) wrap.appendChild(el('span', 'This session', 'badge current-session'));
    else if (d && d.this_device) wrap.appendChild(el('span', 'This device', 'badge current-device'));
    const category = String(e.action).split('.')[0];
    if (!isAdmin && notYou && !(d && d.this_session) && PERSONAL.includes(category)) {
      const a = el('a', 'Not you?', 'not-you');
      a.href = notYou;
      wrap.appendChild(a);
    }
    return wrap;
  }

  // The raw record, one click away.
  function details(e, d) {
    const box = document.createElement('details');
    const summary = el('summary', 'Details');
    summary.appendChild(el('span', ' of ' + (d ? d.sentence : e.action) + ' at ' + e.time, 'visually-hidden'));
    box.appendChild(summary);
    const dl = el('dl', null, 'raw');
    const add = (k, v) => {
      if (v == null || v === '') return;
      dl.appendChild(el('dt', k));
      dl.appendChild(el('dd', v));
    };
    const s = e.source || {};
    add('Action', e.action);
    add('Outcome', e.outcome);
    add('Reason', e.reason);
    add('IP address', s.ip);
    add('Browser', s.user_agent);
    add('Device id', s.device_id);
    add('Request id', e.request_id);
    add('Event id', e.id);
    if (e.details) add('Details', JSON.stringify(e.details));
    box.appendChild(dl);
    return box;
  }

  async function getJson(url, init) {
    const res = await fetch(url, Object.assign({ headers: { Accept: 'application/json' }, credentials: 'same-origin' }, init || {}));
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      throw new Error((data && data.message) || ('The server answered ' + res.status));
    }
    return data;
  }

  function updateExport() {
    $('export').href = base + '/api/events.csv?' + filters().toString();
  }

  async function load() {
    const p = filters();
    p.set('limit', $('size').value);
    const c = cursors[pageIndex];
    if (c) p.set('cursor', c);
    updateExport();
    say('Loading…');
    let data;
    try {
      data = await getJson(base + '/api/events?' + p.toString());
    } catch (err) {
      say(err.message, true);
      return;
    }
    const rows = $('rows');
    rows.replaceChildren();
    data.events.forEach((e, i) => {
      const d = data.display ? data.display[i] : null;
      const tr = document.createElement('tr');
      tr.dataset.id = e.id;
      tr.dataset.action = e.action;
      if (d && d.this_session) tr.classList.add('current');
      cell(tr, when(e.time));
      cell(tr, activity(e, d));
      if (isAdmin) {
        cell(tr, e.outcome, 'outcome-' + e.outcome);
        cell(tr, who(e));
        cell(tr, e.source && e.source.ip);
      }
      cell(tr, d ? d.place : place(e));
      cell(tr, d ? d.device : '');
      cell(tr, details(e, d));
      if (isAdmin) {
        const b = el('button', 'Timeline', 'link timeline-open');
        b.type = 'button';
        b.setAttribute('aria-label', 'Timeline around ' + e.action + ' at ' + e.time);
        b.addEventListener('click', () => openTimeline(e.id, e.action === 'alert.raised'));
        cell(tr, b);
      }
      rows.appendChild(tr);
    });
    next = data.next;
    $('older').disabled = !next;
    $('newer').disabled = pageIndex === 0;
    $('page').textContent = 'Page ' + (pageIndex + 1);
    const n = data.events.length;
    say(n === 0 ? 'No events match these filters.' : 'Showing ' + n + ' event' + (n === 1 ? '' : 's') + ', newest first.');
    if (scope() === 'own') loadDevices(); else $('devices').hidden = true;
  }

  async function loadDevices() {
    let data;
    try {
      data = await getJson(base + '/api/devices');
    } catch (err) {
      $('devices').hidden = true;
      return;
    }
    const dr = $('device-rows');
    dr.replaceChildren();
    for (const d of data.devices) {
      const tr = document.createElement('tr');
      const name = el('div', null, 'activity');
      name.appendChild(el('span', d.label || 'Unknown browser'));
      if (d.this_device) name.appendChild(el('span', 'This device', 'badge current-device'));
      cell(tr, name);
      cell(tr, when(d.first_seen));
      cell(tr, when(d.last_seen));
      cell(tr, d.sign_ins);
      cell(tr, d.last_location || '');
      dr.appendChild(tr);
    }
    const lr = $('location-rows');
    lr.replaceChildren();
    for (const l of data.locations) {
      const tr = document.createElement('tr');
      cell(tr, [l.city, l.country].filter(Boolean).join(', '));
      cell(tr, when(l.first_seen));
      cell(tr, when(l.last_seen));
      cell(tr, l.sign_ins);
      lr.appendChild(tr);
    }
    lr.closest('table').hidden = data.locations.length === 0;
    $('devices').hidden = data.devices.length === 0;
  }

  // --- The administrator's overview -------------------------------------------------

  const FIGURES = [
    ['sign_ins', 'Sign-ins'],
    ['failures', 'Failed sign-ins'],
    ['lockouts', 'Lockouts'],
    ['alerts', 'Alerts'],
  ];

  // A small bar chart: one bar per bucket, oldest on the left.
  function bars(series, label, kind) {
    const w = 168, h = 28, n = series.buckets.length;
    const max = Math.max(1, ...series.buckets);
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(h));
    svg.setAttribute('role', 'img');
    svg.setAttribute('class', 'chart chart-' + kind);
    svg.setAttribute('aria-label', label);
    const step = w / n;
    series.buckets.forEach((v, i) => {
      const bh = v === 0 ? 1 : Math.max(2, Math.round((v / max) * (h - 2)));
      const r = document.createElementNS(SVG, 'rect');
      r.setAttribute('x', (i * step + 0.5).toFixed(1));
      r.setAttribute('y', String(h - bh));
      r.setAttribute('width', Math.max(1, step - 1).toFixed(1));
      r.setAttribute('height', String(bh));
      r.setAttribute('class', v === 0 ? 'bar empty' : 'bar');
      svg.appendChild(r);
    });
    return svg;
  }

  function figure(key, title, o) {
    const day = o.day[key], week = o.week[key];
    const box = el('figure', null, 'figure figure-' + key);
    box.dataset.figure = key;
    box.appendChild(el('figcaption', title));
    const p = el('p', null, 'totals');
    const d = el('strong', day.total, 'total-day');
    p.append(d, ' in 24 hours · ');
    const wk = el('span', week.total, 'total-week');
    p.append(wk, ' in 7 days');
    box.appendChild(p);
    const peak = (s) => Math.max(0, ...s.buckets);
    const chart = (label, svg) => {
      const row = el('div', null, 'chart-row');
      row.appendChild(el('span', label, 'chart-label'));
      row.appendChild(svg);
      box.appendChild(row);
    };
    chart('24 h', bars(day, title + ' per hour over the last 24 hours: ' + day.total + ' in all, at most ' + peak(day) + ' in an hour', 'day'));
    chart('7 days', bars(week, title + ' per day over the last 7 days: ' + week.total + ' in all, at most ' + peak(week) + ' in a day', 'week'));
    return box;
  }

  async function unlock(account, button) {
    button.disabled = true;
    const say2 = (t, bad) => {
      const s = $('overview-status');
      s.textContent = t;
      s.classList.toggle('error', Boolean(bad));
    };
    try {
      await getJson(base + '/api/unlock?account=' + encodeURIComponent(account), {
        method: 'POST',
        headers: { Accept: 'application/json', 'x-csrf-token': csrf },
      });
      say2(account + ' is unlocked.');
      // The release is recorded in the background: the row goes now, the figures
      // follow on the next load.
      const lr = $('locked-rows');
      button.closest('tr').remove();
      if (lr.rows.length === 0) {
        $('locked-none').hidden = false;
        lr.closest('table').hidden = true;
        $('locked-none').tabIndex = -1;
        $('locked-none').focus();
      }
    } catch (err) {
      say2(err.message, true);
      button.disabled = false;
    }
  }

  async function loadOverview() {
    let o;
    try {
      o = await getJson(base + '/api/overview');
    } catch (err) {
      $('overview-status').textContent = err.message;
      $('overview-status').classList.add('error');
      return;
    }
    const figs = $('figures');
    figs.replaceChildren();
    for (const [key, title] of FIGURES) figs.appendChild(figure(key, title, o));
    $('overview-status').textContent = o.partial ? 'Busy log: the charts show the newest events only.' : '';
    const ar = $('alert-rows');
    ar.replaceChildren();
    for (const a of o.alerts) {
      const tr = document.createElement('tr');
      tr.dataset.id = a.id;
      cell(tr, when(a.time));
      cell(tr, el('span', a.severity, 'severity severity-' + a.severity));
      cell(tr, a.message || a.rule);
      cell(tr, a.account || '');
      const b = el('button', 'Open timeline', 'link alert-timeline');
      b.type = 'button';
      b.setAttribute('aria-label', 'Open timeline of the ' + a.severity + ' alert: ' + (a.message || a.rule));
      b.addEventListener('click', () => openTimeline(a.id, true));
      cell(tr, b);
      ar.appendChild(tr);
    }
    $('alerts-none').hidden = o.alerts.length > 0;
    ar.closest('table').hidden = o.alerts.length === 0;
    const lr = $('locked-rows');
    lr.replaceChildren();
    for (const l of o.locked) {
      const tr = document.createElement('tr');
      tr.dataset.account = l.account;
      cell(tr, l.account);
      cell(tr, when(l.since));
      cell(tr, l.until ? when(l.until) : 'Until unlocked');
      cell(tr, l.failures);
      const b = el('button', 'Unlock', 'unlock');
      b.type = 'button';
      b.setAttribute('aria-label', 'Unlock ' + l.account);
      b.addEventListener('click', () => unlock(l.account, b));
      cell(tr, b);
      lr.appendChild(tr);
    }
    $('locked-none').hidden = o.locked.length > 0;
    lr.closest('table').hidden = o.locked.length === 0;
    const fill = (id, list) => {
      const tb = $(id);
      tb.replaceChildren();
      for (const t of list) {
        const tr = document.createElement('tr');
        cell(tr, t.key);
        cell(tr, t.failures);
        tb.appendChild(tr);
      }
      if (list.length === 0) {
        const tr = document.createElement('tr');
        const td = cell(tr, 'None');
        td.colSpan = 2;
        tb.appendChild(tr);
      }
    };
    fill('top-accounts', o.top_accounts);
    fill('top-ips', o.top_ips);
  }

  // --- The administrator's access policies ------------------------------------------

  function policyStatus(text, bad) {
    const s = $('policies-status');
    s.textContent = text;
    s.classList.toggle('error', Boolean(bad));
  }

  function showPolicies(p) {
    $('policy-version').textContent = String(p.version);
    $('policy-text').value = p.policy ? JSON.stringify(p.policy, null, 2) : '';
    $('policy-label').textContent = (p.tenant ? 'Policy of ' + p.tenant : 'Global policy') + ' (JSON; empty removes it)';
    const g = $('policy-global-box');
    g.hidden = !(p.tenant && p.global);
    $('policy-global').textContent = p.global ? JSON.stringify(p.global, null, 2) : '';
  }

  async function loadPolicies() {
    try {
      showPolicies(await getJson(base + '/api/policies'));
    } catch (err) {
      policyStatus(err.message, true);
    }
  }

  $('policy-edit').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = $('policy-save');
    button.disabled = true;
    try {
      const p = await getJson(base + '/api/policies', {
        method: 'POST',
        headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'x-csrf-token': csrf },
        body: $('policy-text').value,
      });
      showPolicies(p);
      policyStatus('Saved: version ' + p.version + ' is in force.');
    } catch (err) {
      policyStatus(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  $('policy-test').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const name of ['ip', 'at', 'account', 'role', 'country']) {
      const v = $('test-' + name).value.trim();
      if (v) q.set(name, v);
    }
    const out = $('policy-result');
    out.classList.remove('error');
    try {
      const d = await getJson(base + '/api/policies/test?' + q.toString());
      let text;
      if (d.allowed) {
        text = 'Allowed.';
      } else {
        const den = d.denied;
        text = 'Denied (' + den.reason + ') by rule "' + den.rule + '" of the ' + (den.policy ? den.policy + ' policy' : 'global policy') + (den.local_time ? ', local time ' + den.local_time : '') + '.';
      }
      for (const r of d.reported) text += ' Report-only rule "' + r.rule + '" would deny (' + r.reason + ').';
      out.textContent = text;
    } catch (err) {
      out.textContent = err.message;
      out.classList.add('error');
    }
  });

  // --- Timelines --------------------------------------------------------------------

  function why(link) {
    switch (link.link) {
      case 'anchor': return 'starting point';
      case 'evidence': return 'alert evidence';
      case 'account': return 'same account ' + link.value;
      case 'ip': return 'same IP ' + link.value;
      case 'device': return 'same device ' + String(link.value).slice(0, 12);
      case 'session': return 'same session';
      case 'pivot': return 'pivot to ' + link.value;
      default: return String(link.link);
    }
  }

  async function openTimeline(id, isAlert) {
    const kind = isAlert ? 'alert' : 'event';
    say('Loading timeline…');
    let t;
    try {
      t = await getJson(base + '/api/timeline?' + kind + '=' + encodeURIComponent(id));
    } catch (err) {
      say(err.message, true);
      return;
    }
    const rows = $('timeline-rows');
    rows.replaceChildren();
    t.entries.forEach((entry, i) => {
      const ev = entry.event;
      const d = t.display ? t.display[i] : null;
      const tr = document.createElement('tr');
      if (ev.id === id) tr.className = 'anchor';
      cell(tr, when(ev.time));
      cell(tr, d ? d.sentence : what(ev));
      cell(tr, ev.outcome, 'outcome-' + ev.outcome);
      cell(tr, who(ev));
      cell(tr, ev.source && ev.source.ip);
      cell(tr, entry.links.map(why).join('; '));
      rows.appendChild(tr);
    });
    $('timeline-summary').textContent = t.entries.length + ' linked events from ' +
      new Date(t.since).toLocaleString() + ' to ' + new Date(t.until).toLocaleString() +
      (t.truncated ? ' (truncated)' : '') + '.';
    const others = t.pivots.map((p) => p.account);
    $('timeline-pivots').textContent = others.length
      ? 'Other accounts seen from the same addresses or devices (not followed): ' + others.join(', ')
      : '';
    const section = $('timeline');
    section.hidden = false;
    say('');
    section.focus();
  }

  $('timeline-close').addEventListener('click', () => {
    $('timeline').hidden = true;
    $('results').focus();
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    cursors = [null];
    pageIndex = 0;
    load();
  });
  form.addEventListener('reset', () => {
    setTimeout(() => { cursors = [null]; pageIndex = 0; load(); }, 0);
  });
  form.addEventListener('change', updateExport);
  $('older').addEventListener('click', () => {
    if (!next) return;
    cursors[pageIndex + 1] = next;
    pageIndex += 1;
    load();
  });
  $('newer').addEventListener('click', () => {
    if (pageIndex === 0) return;
    pageIndex -= 1;
    load();
  });

  if (isAdmin) loadOverview();
  if (isAdmin && body.dataset.sinks === 'on') $('sinks-link').hidden = false;
  if (isAdmin && body.dataset.policies === 'on') {
    $('policies').hidden = false;
    loadPolicies();
  }
  load();
})();
