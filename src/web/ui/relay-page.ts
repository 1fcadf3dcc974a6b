/**
 * The relay's operator page (docs/architecture.md "Web console"): the
 * relay's counters (what GET /stats answers: admissions, refusals by
 * reason, frames, the cluster, the policy it carries, certificates) and
 * the members online (src/relay/member-list.ts), redrawn from each
 * `snapshot` of /web/stream.
 *
 * Two panels have their own tables: the members (one row each: name,
 * short peer id, addresses, admitted since, frames and bytes in and out,
 * drops; "N of TOTAL" when the relay sent only the first N) and, when
 * clustered, the peer relays (name, id, heartbeat, members, forwarding).
 * The rest is rendered generically, one list per top-level section with
 * the nested keys flattened (`refused.pending-per-address`), so a counter
 * the relay gains shows up without a change here. Text only through
 * textContent; no inline script or style (the CSP forbids both).
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function flatten(prefix: string, v: Json, out: Array<[string, string]>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) out.push([prefix, '-']);
    for (const k of keys) flatten(prefix === '' ? k : `${prefix}.${k}`, v[k]!, out);
  } else if (Array.isArray(v)) {
    if (v.length === 0) out.push([prefix, '-']);
    v.forEach((item, i) => flatten(`${prefix}[${i}]`, item, out));
  } else {
    out.push([prefix, v === null ? '-' : String(v)]);
  }
}

function section(title: string, rows: Array<[string, string]>): HTMLElement {
  const s = document.createElement('section');
  s.dataset['section'] = title;
  const h = document.createElement('h2');
  h.textContent = title;
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.dataset['key'] = title === 'relay' ? k : `${title}.${k}`;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  s.append(h, dl);
  return s;
}

function table(title: string, caption: string, head: readonly string[], rows: ReadonlyArray<{ key: string; cells: readonly string[] }>): HTMLElement {
  const s = document.createElement('section');
  s.dataset['section'] = title;
  const h = document.createElement('h2');
  h.textContent = title;
  const p = document.createElement('p');
  p.dataset['caption'] = title;
  p.textContent = caption;
  const t = document.createElement('table');
  const tr = document.createElement('tr');
  for (const c of head) {
    const th = document.createElement('th');
    th.textContent = c;
    tr.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(tr);
  const tbody = document.createElement('tbody');
  for (const r of rows) {
    const row = document.createElement('tr');
    row.dataset['row'] = r.key;
    r.cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.dataset['col'] = head[i]!;
      td.textContent = c;
      row.append(td);
    });
    tbody.append(row);
  }
  t.append(thead, tbody);
  s.append(h, p, t);
  return s;
}

const num = (v: Json | undefined): number => (typeof v === 'number' ? v : 0);
const obj = (v: Json | undefined): { [k: string]: Json } => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});
const list = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

function sumValues(v: Json | undefined): number {
  return Object.values(obj(v)).reduce<number>((a, x) => a + num(x), 0);
}

/** "3 s", "4 min", "2 h" ago: the admitted-since column. */
function since(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** The members online (src/relay/member-list.ts MemberListSnapshot). */
function membersPanel(v: Json | undefined): HTMLElement {
  const m = obj(v);
  const rows = list(m['members']).map((x) => {
    const e = obj(x);
    const drops = Object.entries(obj(e['drops'])).map(([k, n]) => `${k} ${num(n)}`).join(', ');
    return {
      key: String(e['peer'] ?? ''),
      cells: [String(e['name'] ?? ''), String(e['peer'] ?? ''), list(e['addresses']).map(String).join(' '), String(e['remote'] ?? ''), since(num(e['admittedAtMs'])),
        String(num(e['framesIn'])), String(num(e['bytesIn'])), String(num(e['framesOut'])), String(num(e['bytesOut'])), drops === '' ? '0' : drops],
    };
  });
  const total = num(m['total']);
  const caption = rows.length < total ? `${rows.length} of ${total} online (the first by name)` : `${total} online`;
  return table('members', caption, ['name', 'peer', 'addresses', 'from', 'admitted', 'frames in', 'bytes in', 'frames out', 'bytes out', 'drops'], rows);
}

/** The relay cluster (src/relay/cluster/relay-cluster.ts ClusterSnapshot): NATS state and the peer relays. */
function clusterPanel(v: Json | undefined): HTMLElement {
  const c = obj(v);
  const forwarding = obj(c['forwarding']);
  const rows = list(c['peerRelays']).map((x) => {
    const r = obj(x);
    const id = String(r['id'] ?? '');
    // Forwarding counters are keyed by the peer relay's name, or its id while the name is unknown (cluster-stats.ts).
    const f = obj(forwarding[String(r['name'] ?? '')] ?? forwarding[id]);
    return {
      key: id,
      cells: [String(r['name'] ?? ''), id.slice(0, 16), `${Math.round(num(r['lastHeartbeatAgoMs']) / 1000)} s ago`, String(num(r['members'])), JSON.stringify(f) === '{}' ? '-' : Object.entries(f).map(([k, n]) => `${k} ${String(n)}`).join(', ')],
    };
  });
  const nats = c['natsConnected'] === true ? 'NATS connected' : `NATS disconnected${c['natsError'] !== null && c['natsError'] !== undefined ? ` (${JSON.stringify(c['natsError'])})` : ''}`;
  const caption = `${String(c['name'] ?? '')}: ${nats}; ${rows.length} peer relay(s), ${num(c['remoteMembers'])} members on them; ${sumValues(c['drops'])} dropped`;
  return table('cluster', caption, ['relay', 'id', 'heartbeat', 'members', 'forwarding'], rows);
}

function render(snap: { [k: string]: Json }): void {
  const scalars: Array<[string, string]> = [];
  const sections: HTMLElement[] = [];
  sections.push(membersPanel(snap['members']));
  if (snap['cluster'] !== undefined) sections.push(clusterPanel(snap['cluster']));
  for (const [k, v] of Object.entries(snap)) {
    if (k === 'members') continue;
    if (v !== null && typeof v === 'object') {
      const rows: Array<[string, string]> = [];
      flatten('', v, rows);
      sections.push(section(k, rows));
    } else {
      scalars.push([k, v === null ? '-' : String(v)]);
    }
  }
  document.getElementById('relay-sections')!.replaceChildren(section('relay', scalars), ...sections);
}

function live(on: boolean): void {
  const b = document.getElementById('live')!;
  b.textContent = on ? 'live' : 'disconnected';
  b.className = on ? 'badge' : 'badge off';
}

const stream = new EventSource('/web/stream');
stream.addEventListener('open', () => live(true));
stream.addEventListener('error', () => live(false));
stream.addEventListener('snapshot', (ev) => render(JSON.parse((ev as MessageEvent<string>).data) as { [k: string]: Json }));
