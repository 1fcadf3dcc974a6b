/**
 * The console's "Network check" panel (docs/architecture.md "Web
 * console"): a Run button that POSTs /v1/netcheck {"fresh": true}, the
 * control method `shadowmesh netcheck --control` calls, and the report
 * it answers: UDP reachability, the reflexive addresses, the NAT's
 * mapping and filtering, one row per STUN server and one per relay with
 * its latency. The daemon bounds the runs (one at a time, a report under
 * 30 s old reused, src/node/path/netcheck-runner.ts); the panel says when
 * the report shown is such a reused one. Text only through textContent.
 */

type StunRow = { server: string; ok: true; reflexive: string; rttMs: number } | { server: string; ok: false; code: string; message: string };
type RelayRow = { url: string; ok: true; latencyMs: number } | { url: string; ok: false; code: string; message: string };
interface NetcheckRun {
  udp: boolean; localPort: number; reflexive: string[]; mapping: string; filtering: string; filteringNote: string;
  stun: StunRow[]; relays: RelayRow[]; preferredRelay: string | null; measuredAtMs: number; cached: boolean;
}

function cell(tag: 'td' | 'th', text: string, col?: string): HTMLElement {
  const c = document.createElement(tag);
  c.textContent = text;
  if (col !== undefined) c.dataset['col'] = col;
  return c;
}

function rowsTable(id: string, head: readonly string[], rows: ReadonlyArray<readonly string[]>): HTMLTableElement {
  const t = document.createElement('table');
  t.id = id;
  const tr = document.createElement('tr');
  for (const h of head) tr.append(cell('th', h));
  const thead = document.createElement('thead');
  thead.append(tr);
  const tbody = document.createElement('tbody');
  for (const r of rows) {
    const row = document.createElement('tr');
    r.forEach((v, i) => row.append(cell('td', v, head[i])));
    tbody.append(row);
  }
  t.append(thead, tbody);
  return t;
}

function render(out: HTMLElement, r: NetcheckRun): void {
  const facts = document.createElement('dl');
  const fact = (k: string, v: string): void => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.dataset['key'] = k;
    dd.textContent = v;
    facts.append(dt, dd);
  };
  fact('UDP', r.udp ? `yes${r.localPort !== 0 ? ` (from local port ${r.localPort})` : ''}` : 'no');
  fact('reflexive', r.reflexive.length === 0 ? '(none)' : r.reflexive.join(', '));
  fact('NAT mapping', r.mapping);
  fact('NAT filtering', `${r.filtering} (${r.filteringNote})`);
  fact('preferred relay', r.preferredRelay ?? '(none answered)');
  fact('measured', `${new Date(r.measuredAtMs).toLocaleTimeString()}${r.cached ? ' (a recent report; the daemon runs at most one check every 30 s)' : ''}`);
  const stun = rowsTable('netcheck-stun', ['STUN server', 'answer', 'RTT'], r.stun.map((s) => s.ok ? [s.server, s.reflexive, `${s.rttMs} ms`] : [s.server, `${s.message} (${s.code})`, '-']));
  const relays = rowsTable('netcheck-relays', ['relay', 'latency', 'error'], r.relays.map((x) => x.ok ? [x.url, `${x.latencyMs} ms`, ''] : [x.url, '-', `${x.message} (${x.code})`]));
  out.replaceChildren(facts, stun, relays);
}

/** Build the panel into `root`; `post` is the page's POST helper (JSON in, JSON out, throws a coded message). */
export function mountNetcheckPanel(root: HTMLElement, post: (path: string, body: unknown) => Promise<unknown>): void {
  const button = document.createElement('button');
  button.id = 'netcheck-run';
  button.textContent = 'Run';
  const state = document.createElement('span');
  state.id = 'netcheck-state';
  const out = document.createElement('div');
  out.id = 'netcheck-result';
  button.addEventListener('click', () => {
    button.disabled = true;
    state.textContent = 'checking…';
    post('/v1/netcheck', { fresh: true }).then(
      (r) => { render(out, r as NetcheckRun); state.textContent = 'done'; },
      (err: unknown) => { state.textContent = `failed: ${(err as Error).message}`; },
    ).finally(() => { button.disabled = false; });
  });
  root.replaceChildren(button, state, out);
}
