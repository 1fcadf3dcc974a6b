/**
 * The relay's operator page (docs/architecture.md "Web console"): the
 * relay's counters (what GET /stats answers: members, admissions, refusals
 * by reason, frames, the cluster, the policy it carries, certificates),
 * redrawn from each `snapshot` of /web/stream. Rendered generically, one
 * table per top-level section with the nested keys flattened
 * (`refused.pending-per-address`), so a counter the relay gains shows up
 * without a change here. Text only through textContent; no inline script
 * or style (the CSP forbids both).
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

function render(snap: { [k: string]: Json }): void {
  const scalars: Array<[string, string]> = [];
  const sections: HTMLElement[] = [];
  for (const [k, v] of Object.entries(snap)) {
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
