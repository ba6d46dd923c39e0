// xmppkit router console. Stanzas and session data are written into the
// page with textContent only (never as markup), so what a stanza holds is
// shown, not run.
'use strict';

const MAX_ENTRIES = 2000;
const $ = (id) => document.getElementById(id);
const log = $('log');
const filterBox = $('filter');
const kinds = ['message', 'presence', 'iq'];
let paused = false;
let held = [];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// highlight appends the pretty-printed XML to pre as text nodes and spans:
// tag names, attribute names and values get classes for colour.
function highlight(pre, xml) {
  const re = /(<\/?[^\s>\/]+)|(\s[^\s=<>'"]+=)('[^']*'|"[^"]*")|(\/?>)/g;
  let last = 0;
  let m;
  while ((m = re.exec(xml)) !== null) {
    if (m.index > last) pre.appendChild(document.createTextNode(xml.slice(last, m.index)));
    if (m[1]) pre.appendChild(el('span', 't', m[1]));
    else if (m[2]) { pre.appendChild(el('span', 'a', m[2])); pre.appendChild(el('span', 'v', m[3])); }
    else pre.appendChild(el('span', 't', m[4]));
    last = re.lastIndex;
  }
  if (last < xml.length) pre.appendChild(document.createTextNode(xml.slice(last)));
}

function fmtTime(s) {
  const d = new Date(s);
  const p = (n, w) => String(n).padStart(w || 2, '0');
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
}

function render(ev) {
  const li = el('li', 'entry kind-' + ev.kind + (ev.type ? ' type-' + ev.type : ''));
  li.dataset.seq = ev.seq;
  li.dataset.kind = ev.kind;
  li.dataset.type = ev.type || '';
  li.dataset.from = (ev.from || '').toLowerCase();
  li.dataset.to = (ev.to || '').toLowerCase();
  li.dataset.id = (ev.id || '').toLowerCase();
  li.dataset.text = [ev.kind, ev.type, ev.id, ev.from, ev.to, ev.xml].join('\n').toLowerCase();
  const head = el('div', 'head');
  head.appendChild(el('span', 'time', fmtTime(ev.time)));
  head.appendChild(el('span', 'kind', ev.kind));
  if (ev.type) head.appendChild(el('span', 'type', ev.type));
  head.appendChild(el('span', 'route', (ev.from || '(no from)') + ' → ' + (ev.to || '(the account)')));
  if (ev.id) head.appendChild(el('span', 'note', 'id ' + ev.id));
  head.appendChild(el('span', 'note', ev.bytes + ' B' + (ev.cut ? ', cut' : '')));
  head.addEventListener('click', () => li.classList.toggle('folded'));
  const pre = el('pre', 'xml');
  if (ev.raw) pre.textContent = ev.xml; else highlight(pre, ev.xml);
  li.appendChild(head);
  li.appendChild(pre);
  return li;
}

// parseFilter reads "from:alice to:pubsub chat" into field terms and free
// terms; every term must match.
function parseFilter() {
  const terms = [];
  for (const word of filterBox.value.toLowerCase().split(/\s+/)) {
    if (!word) continue;
    const m = /^(from|to|kind|type|id):(.*)$/.exec(word);
    terms.push(m ? { field: m[1], value: m[2] } : { field: 'text', value: word });
  }
  return terms;
}

function matches(li, terms) {
  if (!$('show-' + li.dataset.kind).checked) return false;
  for (const t of terms) {
    const v = li.dataset[t.field] || '';
    if (!v.includes(t.value)) return false;
  }
  return true;
}

function applyFilter() {
  const terms = parseFilter();
  let shown = 0;
  let total = 0;
  for (const li of log.querySelectorAll('li.entry')) {
    total++;
    const ok = matches(li, terms);
    li.classList.toggle('hidden', !ok);
    if (ok) shown++;
  }
  $('shown').textContent = shown + ' of ' + total + ' shown' + (paused ? ', ' + held.length + ' held' : '');
}

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function append(node) {
  const stick = atBottom();
  if (node.classList.contains('entry')) {
    node.classList.toggle('hidden', !matches(node, parseFilter()));
  }
  log.appendChild(node);
  while (log.children.length > MAX_ENTRIES) log.removeChild(log.firstChild);
  if (stick) log.scrollTop = log.scrollHeight;
}

function add(ev) {
  if (paused) { held.push(ev); updateCount(); return; }
  append(render(ev));
  updateCount();
}

let countTimer = null;
function updateCount() {
  if (countTimer) return;
  countTimer = setTimeout(() => { countTimer = null; applyFilter(); }, 100);
}

function renderPeers(peers) {
  for (const kind of ['component', 'service', 'client']) {
    const ul = $('peers-' + kind);
    ul.textContent = '';
    const list = peers.filter((p) => p.kind === kind);
    $('count-' + kind).textContent = list.length;
    for (const p of list) {
      const li = el('li');
      li.dataset.addr = p.addr;
      li.title = 'show the stanzas of ' + p.addr;
      if (kind === 'client') {
        const dot = el('span', 'dot' + (p.available ? ' on' : ''));
        dot.title = p.available ? 'available' : 'not available';
        li.appendChild(dot);
      }
      li.appendChild(document.createTextNode(p.addr));
      const meta = [];
      if (p.remote) meta.push(p.remote);
      if (p.since) meta.push('since ' + fmtTime(p.since).slice(0, 8));
      if (p.queued) meta.push(p.queued + ' B queued');
      if (kind === 'service') meta.push('in process');
      if (meta.length) li.appendChild(el('span', 'meta', meta.join(' · ')));
      li.addEventListener('click', () => {
        const bare = p.addr.toLowerCase();
        filterBox.value = filterBox.value === bare ? '' : bare;
        applyFilter();
      });
      ul.appendChild(li);
    }
  }
}

function setStatus(cls, text) {
  const s = $('status');
  s.className = 'status ' + cls;
  s.textContent = text;
}

function connect() {
  const es = new EventSource('events');
  es.addEventListener('open', () => setStatus('live', 'live'));
  es.addEventListener('error', () => setStatus('connecting', 'reconnecting…'));
  es.addEventListener('stanza', (e) => add(JSON.parse(e.data)));
  es.addEventListener('peers', (e) => renderPeers(JSON.parse(e.data)));
  es.addEventListener('gap', (e) => append(el('li', 'gap', e.data + ' stanzas not shown (the console fell behind)')));
}

filterBox.addEventListener('input', applyFilter);
for (const k of kinds) $('show-' + k).addEventListener('change', applyFilter);
$('toolbar').addEventListener('submit', (e) => e.preventDefault());
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  $('pause').classList.toggle('on', paused);
  if (!paused) {
    const evs = held;
    held = [];
    for (const ev of evs) append(render(ev));
  }
  applyFilter();
});
$('clear').addEventListener('click', () => { log.textContent = ''; applyFilter(); });
connect();
