/**
 * The web console's page (docs/architecture.md "Web console"): plain DOM,
 * no framework, compiled on its own (src/web/ui/tsconfig.json: the
 * browser's DOM, no Node) into dist/src/web/ui/app.js, which the daemon
 * serves as /app.js. Everything it shows comes from its own origin:
 *
 *  - /web/stream (Server-Sent Events): a `snapshot` each second with the
 *    control API's status, peers and users; the node facts and the members
 *    table are redrawn from it, and the chosen member's charts
 *    (peer-history.ts, peer-charts.ts) grow by one point.
 *  - /v1/events (Server-Sent Events): the chat events, exactly what
 *    `shadowmesh recv --follow` reads.
 *  - POST /v1/chat/send | respond: what `shadowmesh send` and `chat` call.
 *
 * Text from the network (names, chat lines) only ever goes through
 * textContent, never innerHTML, so a member's name or message cannot
 * become markup. No inline script or style: the CSP forbids both.
 */

import { PeerHistory } from './peer-history.js';
import { PeerCharts } from './peer-charts.js';

interface RelayState { url: string; state: string; rttMs: number | null }
interface CertExpiry { notAfter: string; remainingMs: number; state: string }
interface Status {
  peerId: string; name: string; addresses: string[];
  device: { kind: string; name: string; mtu: number } | null;
  relay: { url: string; connected: boolean; observedAddress: string | null; observedPort: number | null; relays: RelayState[] };
  udp: { port: number; nat: string; reflexive: string[] } | null;
  uptimeMs: number; peers: number; drops: Record<string, number>;
  certificates: Record<string, CertExpiry>;
  policyVersion?: number | null;
}
interface Peer {
  peerId: string; name: string | null; addresses: string[]; online: boolean;
  path: string; carrier: string; remote: string; rttMs: number | null;
  stats: { bytesIn: number; bytesOut: number }; drops: Record<string, number>;
}
interface User { peerId: string; name: string; addresses: string[]; groups?: string[] }
interface Snapshot { status: Status; peers: { peers: Peer[] }; users: { users: User[] } }
interface ChatEvent { type: string; conversationId: string; peerId: string; name: string | null; seq?: number; text?: string; reason?: string }

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function byId(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`page: #${id} missing`);
  return e;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function duration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

async function call(path: string, body: unknown): Promise<any> {
  const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const j = await r.json();
  if (!r.ok) throw new Error(`${j?.error?.code ?? r.status}: ${j?.error?.message ?? ''}`);
  return j;
}

// ------------------------------------------------------------- node and members

let names = new Map<string, string>();

function renderNode(s: Status): void {
  const dl = byId('node-facts');
  const relay = s.relay.connected ? `${s.relay.url} (admitted${s.relay.observedAddress !== null ? `, seen as ${s.relay.observedAddress}:${s.relay.observedPort}` : ''})` : `${s.relay.url} (not admitted)`;
  const certs = Object.entries(s.certificates).map(([k, c]) => `${k}: ${c.notAfter} (${c.state}, ${c.remainingMs >= 0 ? `in ${duration(c.remainingMs)}` : `${duration(c.remainingMs)} ago`})`).join('; ');
  const facts: Array<[string, string]> = [
    ['name', s.name],
    ['peer id', s.peerId],
    ['addresses', s.addresses.join(', ') || '-'],
    ['device', s.device === null ? 'none' : `${s.device.kind} ${s.device.name} mtu ${s.device.mtu}`],
    ['relay', relay],
    ['NAT', s.udp === null ? 'no UDP' : `${s.udp.nat}; UDP port ${s.udp.port}${s.udp.reflexive.length > 0 ? `; reflexive ${s.udp.reflexive.join(', ')}` : ''}`],
    ['certificates', certs || '-'],
    ['policy', s.policyVersion == null ? 'none' : `version ${s.policyVersion}`],
    ['uptime', duration(s.uptimeMs)],
    ['drops', String(sum(s.drops))],
  ];
  dl.replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]));
}

function renderMembers(snap: Snapshot): void {
  const rows = new Map<string, { user?: User; peer?: Peer }>();
  for (const u of snap.users.users) rows.set(u.peerId, { user: u });
  for (const p of snap.peers.peers) rows.set(p.peerId, { ...rows.get(p.peerId), peer: p });
  names = new Map([...rows].map(([id, r]) => [id, r.user?.name ?? r.peer?.name ?? id.slice(0, 8)]));
  const tbody = byId('members-table').querySelector('tbody')!;
  const trs = [...rows].sort(([, a], [, b]) => (a.user?.name ?? a.peer?.name ?? '').localeCompare(b.user?.name ?? b.peer?.name ?? '')).map(([id, r]) => {
    const p = r.peer;
    const online = r.user !== undefined || p?.online === true;
    const path = p === undefined ? '-' : p.path === 'direct' ? `direct ${p.carrier} ${p.remote}` : 'relay';
    const chat = el('button', { type: 'button', 'data-chat': id }, 'chat');
    chat.addEventListener('click', () => openPane(id));
    const chart = el('button', { type: 'button', 'data-charts': id }, 'charts');
    chart.addEventListener('click', () => charts?.select(id, names.get(id) ?? id));
    const tr = el('tr', { 'data-peer': id },
      el('td', {}, el('span', { class: online ? 'dot on' : 'dot', title: online ? 'online' : 'offline' })),
      el('td', { 'data-col': 'name' }, names.get(id) ?? id),
      el('td', {}, (r.user?.addresses ?? p?.addresses ?? []).join(', ')),
      el('td', {}, (r.user?.groups ?? []).join(', ')),
      el('td', { 'data-col': 'path' }, el('span', { class: `badge ${p?.path === 'direct' ? 'direct' : 'relay'}` }, path)),
      el('td', { class: 'num' }, p?.rttMs == null ? '-' : `${p.rttMs.toFixed(1)} ms`),
      el('td', { class: 'num' }, p === undefined ? '-' : bytes(p.stats.bytesIn)),
      el('td', { class: 'num' }, p === undefined ? '-' : bytes(p.stats.bytesOut)),
      el('td', { class: 'num' }, p === undefined ? '-' : String(sum(p.drops))),
      el('td', {}, chart, ' ', chat));
    return tr;
  });
  tbody.replaceChildren(...trs);
}

function liveBadge(on: boolean): void {
  const b = byId('live');
  b.textContent = on ? 'live' : 'disconnected';
  b.className = on ? 'badge' : 'badge off';
}

// ------------------------------------------------------------- chat

interface Pane { peerId: string; conversationId: string | null; log: HTMLUListElement; ticks: Map<number, HTMLElement>; root: HTMLElement }
const panes = new Map<string, Pane>();

function note(pane: Pane, text: string, cls: string): HTMLLIElement {
  const li = el('li', { class: cls }, text);
  pane.log.append(li);
  pane.log.scrollTop = pane.log.scrollHeight;
  return li;
}

function openPane(peerId: string): Pane {
  const have = panes.get(peerId);
  if (have !== undefined) return have;
  const log = el('ul', { class: 'log' });
  const input = el('input', { type: 'text', name: 'text', placeholder: 'message', autocomplete: 'off', maxlength: '4000' });
  const form = el('form', { class: 'send' }, input, el('button', { type: 'submit', class: 'primary' }, 'send'));
  const error = el('div', { class: 'error' });
  const root = el('div', { class: 'pane', 'data-pane': peerId }, el('h3', {}, `with ${names.get(peerId) ?? peerId.slice(0, 8)}`), log, form, error);
  const pane: Pane = { peerId, conversationId: null, log, ticks: new Map(), root };
  panes.set(peerId, pane);
  byId('chat-panes').append(root);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (text.length === 0) return;
    input.value = '';
    error.textContent = '';
    const params = pane.conversationId !== null ? { conversationId: pane.conversationId, text } : { peer: peerId, text };
    call('/v1/chat/send', params).then((r: { conversationId: string; seq: number; conversation: { ackedThrough: number } }) => {
      pane.conversationId = r.conversationId;
      const li = note(pane, `me #${r.seq}: ${text}`, 'out');
      const tick = el('span', { class: 'tick', 'data-seq': String(r.seq) });
      li.append(tick);
      pane.ticks.set(r.seq, tick);
      markAcked(pane, r.conversation.ackedThrough);
    }, (err: Error) => { error.textContent = err.message; });
  });
  return pane;
}

/** Acks are cumulative: every line up to seq arrived. */
function markAcked(pane: Pane, through: number): void {
  for (const [seq, tick] of pane.ticks) {
    if (seq <= through) {
      tick.textContent = '✓';
      tick.title = 'delivered';
      pane.ticks.delete(seq);
    }
  }
}

function showRequest(e: ChatEvent): void {
  const who = e.name ?? e.peerId.slice(0, 8);
  const row = el('div', { class: 'request', 'data-request': e.conversationId }, `${who} asks to chat`);
  const answer = (accept: boolean): void => {
    call('/v1/chat/respond', { conversationId: e.conversationId, accept, reason: accept ? '' : 'declined' }).then(() => {
      row.remove();
      if (accept) {
        const pane = openPane(e.peerId);
        pane.conversationId = e.conversationId;
        note(pane, 'accepted', 'sys');
      }
    }, (err: Error) => { row.append(el('span', { class: 'error' }, err.message)); });
  };
  const yes = el('button', { type: 'button', class: 'primary', 'data-accept': e.conversationId }, 'accept');
  const no = el('button', { type: 'button', 'data-decline': e.conversationId }, 'decline');
  yes.addEventListener('click', () => answer(true));
  no.addEventListener('click', () => answer(false));
  row.append(yes, no);
  byId('chat-requests').append(row);
}

function onChat(e: ChatEvent): void {
  if (e.type === 'request') return showRequest(e);
  const pane = openPane(e.peerId);
  pane.conversationId = e.conversationId;
  const who = e.name ?? e.peerId.slice(0, 8);
  switch (e.type) {
    case 'message': note(pane, `${who}: ${e.text ?? ''}`, 'in'); break;
    case 'ack': markAcked(pane, e.seq ?? 0); break;
    case 'accepted': note(pane, `${who} accepted`, 'sys'); break;
    case 'declined': note(pane, `${who} declined${e.reason ? `: ${e.reason}` : ''}`, 'sys'); pane.conversationId = null; break;
    case 'terminated': note(pane, `conversation ended${e.reason ? `: ${e.reason}` : ''}`, 'sys'); pane.conversationId = null; break;
    default: break;
  }
}

// ------------------------------------------------------------- streams

const history = new PeerHistory();
let charts: PeerCharts | null = null;

function start(): void {
  charts = new PeerCharts(byId('charts-body'), history);
  const snapshots = new EventSource('/web/stream');
  snapshots.addEventListener('open', () => liveBadge(true));
  snapshots.addEventListener('error', () => liveBadge(false));
  snapshots.addEventListener('snapshot', (ev) => {
    const snap = JSON.parse((ev as MessageEvent<string>).data) as Snapshot;
    renderNode(snap.status);
    renderMembers(snap);
    history.record(Date.now(), snap.peers.peers);
    if (charts !== null && charts.peerId === null && snap.peers.peers.length > 0) {
      const first = snap.peers.peers[0]!;
      charts.select(first.peerId, names.get(first.peerId) ?? first.peerId);
    }
    charts?.update();
    document.title = `${snap.status.name} · ShadowMesh`;
  });
  const chat = new EventSource('/v1/events');
  chat.addEventListener('message', (ev) => onChat(JSON.parse((ev as MessageEvent<string>).data) as ChatEvent));
}

start();
