/**
 * The console's static files (docs/architecture.md "Web console"), for the
 * node's page or the relay's operator page: the page
 * shell, its stylesheet and icon, kept here as text; the page's modules,
 * compiled from src/web/ui/*.ts at build time into dist/src/web/ui/ (their
 * own tsconfig: the browser's DOM, no Node) and read from beside this
 * module; and uPlot, the chart library, read from the installed `uplot`
 * package (a dependency) and served as /vendor/.
 * All three are served from the console's own origin, so the
 * Content-Security-Policy can be `default-src 'self'` with no inline script
 * or style and nothing fetched from another site.
 *
 * loadWebAssets() reads every file once (at console start); one missing is
 * an installation mistake and fails the start (SM_ERR_WEB_ASSETS) with the
 * path named.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WebCode, WebError } from './web-errors.js';

export interface WebAsset {
  readonly type: string;
  readonly body: Buffer;
}

/**
 * A page's HTML shell, the same head for every page (no inline script or
 * style: the CSP allows 'self' only): `head` adds its stylesheets and
 * scripts, `main` is the static skeleton its module fills in.
 */
function pageShell(o: { title: string; heading: string; head: string; main: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${o.title}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
${o.head}
</head>
<body>
<header><h1>${o.heading}</h1><span id="live" class="badge off">connecting</span></header>
${o.main}
</body>
</html>
`;
}

/** The node's page: everything visible is built by app.js. */
const INDEX_HTML = pageShell({
  title: 'ShadowMesh console',
  heading: 'ShadowMesh',
  head: `<link rel="stylesheet" href="/vendor/uPlot.min.css">
<link rel="stylesheet" href="/app.css">
<script src="/vendor/uPlot.iife.min.js"></script>
<script type="module" src="/app.js"></script>`,
  main: `<main>
<section id="node"><h2>This node</h2><dl id="node-facts"></dl></section>
<section id="netcheck"><h2>Network check</h2><div id="netcheck-body"></div></section>
<section id="members"><h2>Members</h2>
<table id="members-table"><thead><tr><th>online</th><th>name</th><th>addresses</th><th>groups</th><th>path</th><th class="num">RTT</th><th class="num">in</th><th class="num">out</th><th class="num">drops</th><th></th></tr></thead><tbody></tbody></table>
</section>
<section id="charts"><h2>Charts</h2><div id="charts-body"></div></section>
<section id="chat"><h2>Chat</h2>
<div id="chat-requests"></div>
<div id="chat-panes"></div>
</section>
</main>`,
});

const APP_CSS = `:root { font-family: system-ui, sans-serif; color: #1d2430; background: #f5f6f8; }
body { margin: 0; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #1d2430; color: #fff; }
header h1 { font-size: 1.2rem; margin: 0; }
main { padding: 1rem 1.2rem; display: grid; gap: 1rem; }
section { background: #fff; border-radius: 6px; padding: .6rem 1rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
h2 { font-size: 1rem; margin: .4rem 0 .6rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { color: #5a6474; }
dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e4e7ec; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { font-size: .75rem; padding: .1rem .5rem; border-radius: 999px; background: #2f9e44; color: #fff; }
.badge.off { background: #868e96; }
.badge.relay { background: #e67700; }
.badge.direct { background: #2f9e44; }
.dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%; background: #adb5bd; }
.dot.on { background: #2f9e44; }
button { font: inherit; padding: .2rem .7rem; border-radius: 4px; border: 1px solid #9aa3b0; background: #fff; cursor: pointer; }
button.primary { background: #1c7ed6; border-color: #1c7ed6; color: #fff; }
.request { display: flex; gap: .6rem; align-items: center; padding: .4rem 0; }
.pane { border: 1px solid #e4e7ec; border-radius: 6px; margin-top: .6rem; }
.pane h3 { font-size: .9rem; margin: 0; padding: .4rem .6rem; background: #f1f3f5; display: flex; justify-content: space-between; }
.log { list-style: none; margin: 0; padding: .4rem .6rem; max-height: 16rem; overflow-y: auto; font-size: .9rem; }
.log li { padding: .1rem 0; }
.log li.out { color: #1c4f8a; }
.log li.sys { color: #5a6474; font-style: italic; }
.tick { color: #2f9e44; margin-left: .3rem; }
form.send { display: flex; gap: .4rem; padding: .4rem .6rem; }
form.send input { flex: 1; font: inherit; padding: .2rem .4rem; }
.error { color: #c92a2a; font-size: .85rem; }
.chart-title { margin: 0 0 .4rem; color: #5a6474; font-size: .9rem; }
.chart { margin-bottom: .6rem; }
#path-events { margin: 0; padding-left: 1.2rem; font-size: .85rem; font-family: ui-monospace, monospace; }
`;

/** The tab's icon; served so that the browser's own request for one is answered, not a 404. */
const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1d2430"/><circle cx="8" cy="8" r="3" fill="#2f9e44"/></svg>\n';

/** The relay's operator page (docs/architecture.md "Web console"): its counters, live. */
const RELAY_HTML = pageShell({
  title: 'ShadowMesh relay',
  heading: 'ShadowMesh relay',
  head: `<link rel="stylesheet" href="/app.css">
<script type="module" src="/relay-page.js"></script>`,
  main: '<main id="relay-sections"></main>',
});

/** Which page a console serves: the node's (this node, members, charts, chat) or the relay operator's. */
export type WebPage = 'node' | 'relay';

/** Each page's own modules, compiled beside this file (dist/src/web/ui/), by the path the page imports them from. */
const UI_MODULES: Readonly<Record<WebPage, readonly string[]>> = Object.freeze({
  node: ['app.js', 'peer-history.js', 'peer-charts.js', 'netcheck-panel.js'],
  relay: ['relay-page.js'],
});
/** uPlot's browser build and stylesheet, from the installed `uplot` package, served as /vendor/NAME (the node's page only). */
const VENDOR_FILES: Readonly<Record<string, string>> = Object.freeze({
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
});

async function readAsset(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new WebError(WebCode.ASSETS, `web console ${what} missing at ${path}: ${(err as Error).message}`);
  }
}

/** The files of `page` by path. */
export async function loadWebAssets(page: WebPage = 'node'): Promise<ReadonlyMap<string, WebAsset>> {
  const assets = new Map<string, WebAsset>([
    ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(page === 'node' ? INDEX_HTML : RELAY_HTML) }],
    ['/app.css', { type: 'text/css; charset=utf-8', body: Buffer.from(APP_CSS) }],
    ['/favicon.svg', { type: 'image/svg+xml', body: Buffer.from(FAVICON_SVG) }],
  ]);
  for (const name of UI_MODULES[page]) {
    const path = fileURLToPath(new URL(`./ui/${name}`, import.meta.url));
    assets.set(`/${name}`, { type: 'text/javascript; charset=utf-8', body: await readAsset(path, 'script (npm run build compiles src/web/ui)') });
  }
  if (page !== 'node') return assets;
  const require = createRequire(import.meta.url);
  for (const [name, type] of Object.entries(VENDOR_FILES)) {
    let path: string;
    try {
      path = require.resolve(`uplot/dist/${name}`);
    } catch (err) {
      throw new WebError(WebCode.ASSETS, `web console: the uplot package is not installed (${(err as Error).message})`);
    }
    assets.set(`/vendor/${name}`, { type, body: await readAsset(path, 'chart library file') });
  }
  return assets;
}
