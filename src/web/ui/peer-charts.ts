/**
 * The charts of one peer (docs/architecture.md "Web console"): its RTT and
 * its throughput in and out over the last minutes, from PeerHistory, drawn
 * with uPlot (the `uplot` package, served by the daemon from its own
 * origin as /vendor/uPlot.iife.min.js, which defines the global uPlot
 * before this module runs). Path changes are vertical lines on both charts,
 * labelled with the new path, and a list under them.
 *
 * uPlot sets element styles through the DOM (never style attributes or
 * style elements), which the console's CSP allows.
 */
import type UPlot from 'uplot';
import type { PathEvent, PeerHistory, PeerSeries } from './peer-history.js';

const uPlotCtor = (window as unknown as { uPlot: typeof UPlot }).uPlot;

/** Chart height in CSS pixels. */
const CHART_HEIGHT_PX = 180;

function fmtTime(t: number): string {
  return new Date(t * 1000).toLocaleTimeString([], { hour12: false });
}

function rateText(bps: number): string {
  if (bps < 1024) return `${bps.toFixed(0)} B/s`;
  if (bps < 1024 * 1024) return `${(bps / 1024).toFixed(1)} KiB/s`;
  return `${(bps / 1024 / 1024).toFixed(1)} MiB/s`;
}

/** A uPlot hook that draws each path change as a vertical line with the new path's name. */
function pathMarkers(events: () => readonly PathEvent[]): UPlot.Plugin {
  return {
    hooks: {
      draw: [(u: UPlot) => {
        const ctx = u.ctx;
        const { top, height } = u.bbox;
        ctx.save();
        ctx.strokeStyle = '#c92a2a';
        ctx.fillStyle = '#c92a2a';
        ctx.setLineDash([4, 3]);
        ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
        for (const e of events()) {
          const x = Math.round(u.valToPos(e.t, 'x', true));
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.fillText(e.to.split(' ').slice(0, 2).join(' '), x + 4, top + 12 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

export class PeerCharts {
  readonly #root: HTMLElement;
  readonly #history: PeerHistory;
  #peerId: string | null = null;
  #rtt: UPlot | null = null;
  #rate: UPlot | null = null;
  readonly #title: HTMLElement;
  readonly #events: HTMLUListElement;
  readonly #holder: HTMLElement;

  constructor(root: HTMLElement, history: PeerHistory) {
    this.#root = root;
    this.#history = history;
    this.#title = document.createElement('p');
    this.#title.className = 'chart-title';
    this.#title.textContent = 'choose a member with its "charts" button';
    this.#holder = document.createElement('div');
    this.#events = document.createElement('ul');
    this.#events.id = 'path-events';
    this.#root.append(this.#title, this.#holder, this.#events);
  }

  get peerId(): string | null {
    return this.#peerId;
  }

  /** Chart this peer from now on. */
  select(peerId: string, name: string): void {
    this.#peerId = peerId;
    this.#title.textContent = `${name}: RTT and throughput over the last minutes; red lines are path changes`;
    this.#root.dataset['peer'] = peerId;
    this.#rtt?.destroy();
    this.#rate?.destroy();
    this.#holder.replaceChildren();
    const width = Math.max(320, this.#root.clientWidth - 8);
    const events = (): readonly PathEvent[] => (this.#peerId === null ? [] : this.#history.get(this.#peerId)?.events ?? []);
    const rttBox = document.createElement('div');
    rttBox.className = 'chart';
    rttBox.dataset['chart'] = 'rtt';
    const rateBox = document.createElement('div');
    rateBox.className = 'chart';
    rateBox.dataset['chart'] = 'throughput';
    this.#holder.append(rttBox, rateBox);
    this.#rtt = new uPlotCtor({
      width, height: CHART_HEIGHT_PX, plugins: [pathMarkers(events)],
      series: [{}, { label: 'RTT (direct path)', stroke: '#1c7ed6', spanGaps: false, value: (_u, v) => (v == null ? '-' : `${v.toFixed(1)} ms`) }],
      axes: [{}, { label: 'ms' }],
    }, [[], []], rttBox);
    this.#rate = new uPlotCtor({
      width, height: CHART_HEIGHT_PX, plugins: [pathMarkers(events)],
      series: [{}, { label: 'in', stroke: '#2f9e44', value: (_u, v) => (v == null ? '-' : rateText(v)) }, { label: 'out', stroke: '#e67700', value: (_u, v) => (v == null ? '-' : rateText(v)) }],
      axes: [{}, { values: (_u, ticks) => ticks.map(rateText), size: 80 }],
    }, [[], [], []], rateBox);
    this.update();
  }

  /** Redraw from the history (after each snapshot). */
  update(): void {
    if (this.#peerId === null) return;
    const s: PeerSeries | undefined = this.#history.get(this.#peerId);
    if (s === undefined) return;
    this.#rtt?.setData([s.t, s.rttMs] as UPlot.AlignedData);
    this.#rate?.setData([s.t, s.inBps, s.outBps] as UPlot.AlignedData);
    this.#events.replaceChildren(...s.events.slice().reverse().map((e) => {
      const li = document.createElement('li');
      li.dataset['event'] = e.to.startsWith('direct') ? 'to-direct' : 'to-relay';
      li.textContent = `${fmtTime(e.t)} ${e.from} → ${e.to}`;
      return li;
    }));
  }
}
