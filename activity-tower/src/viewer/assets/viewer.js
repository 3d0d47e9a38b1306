// activity viewer. Runs under Content-Security-Policy: default-src 'self'.
// Every value from the log is written with textContent: nothing is parsed as HTML.
'use strict';
(function () {
  const body = document.body;
  const base = body.dataset.base;
  const isAdmin = body.dataset.role === 'admin';
  const $ = (id) => document.getElementById(id);
  const form = $('filters');
  const status = $('status');
  let cursors = [null]; // cursors[i]: where page i starts
  let pageIndex = 0;
  let next = null;

  if (isAdmin) {
    for (const el of document.querySelectorAll('.admin-only')) el.hidden = false;
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

  function device(e) {
    const s = e.source || {};
    const ua = s.user_agent ? s.user_agent.slice(0, 80) : '';
    return [ua, s.device_id ? '(' + s.device_id.slice(0, 12) + ')' : ''].filter(Boolean).join(' ');
  }

  function what(e) {
    return e.reason ? e.action + ' (' + e.reason + ')' : e.action;
  }

  async function getJson(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
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
    for (const e of data.events) {
      const tr = document.createElement('tr');
      tr.dataset.id = e.id;
      cell(tr, when(e.time));
      cell(tr, what(e));
      cell(tr, e.outcome, 'outcome-' + e.outcome);
      cell(tr, who(e));
      cell(tr, e.source && e.source.ip);
      cell(tr, place(e));
      cell(tr, device(e));
      if (isAdmin) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'link timeline-open';
        b.textContent = 'Timeline';
        b.setAttribute('aria-label', 'Timeline around ' + e.action + ' at ' + e.time);
        b.addEventListener('click', () => openTimeline(e));
        cell(tr, b);
      }
      rows.appendChild(tr);
    }
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
      cell(tr, (d.user_agent || 'Unknown browser').slice(0, 80) + (d.device_id ? ' (' + d.device_id.slice(0, 12) + ')' : ''));
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
    $('devices').hidden = data.devices.length === 0;
  }

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

  async function openTimeline(e) {
    const kind = e.action === 'alert.raised' ? 'alert' : 'event';
    say('Loading timeline…');
    let t;
    try {
      t = await getJson(base + '/api/timeline?' + kind + '=' + encodeURIComponent(e.id));
    } catch (err) {
      say(err.message, true);
      return;
    }
    const rows = $('timeline-rows');
    rows.replaceChildren();
    for (const entry of t.entries) {
      const ev = entry.event;
      const tr = document.createElement('tr');
      if (ev.id === e.id) tr.className = 'anchor';
      cell(tr, when(ev.time));
      cell(tr, what(ev));
      cell(tr, ev.outcome, 'outcome-' + ev.outcome);
      cell(tr, who(ev));
      cell(tr, ev.source && ev.source.ip);
      cell(tr, entry.links.map(why).join('; '));
      rows.appendChild(tr);
    }
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

  load();
})();
