// Builds the native addons (native/binding.gyp) with node-gyp: the package's
// "install" script, so it runs on `npm ci` in a checkout and on
// `npm i -g ./shadowmesh-x.tgz` from a packed tarball alike.
//
// Two things make a plain `node-gyp rebuild` fail on a machine without network
// access or without npm's environment, and this file settles both:
//
//  - which node-gyp: npm passes its own as $npm_config_node_gyp; without it
//    (another client, an old npm, run by hand) the one bundled with the npm
//    that runs us ($npm_execpath) or with the running Node's npm
//    (<prefix>/lib/node_modules/npm), else `node-gyp` on PATH.
//  - which Node headers: a nodedir the user configured ($npm_config_nodedir,
//    e.g. `nodedir=/usr` in .npmrc) wins; otherwise the headers that ship
//    with the running Node (<prefix>/include/node, present in the official
//    tarballs, NodeSource and Debian's nodejs/libnode-dev), which match it
//    exactly and need no download; only without them does node-gyp download
//    the headers for this version.
//
// Exits with node-gyp's status: a failed build fails the install, with
// node-gyp's own message (compiler, make or python3 missing).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function nodeGyp() {
  const configured = process.env['npm_config_node_gyp'];
  if (configured && existsSync(configured)) return [process.execPath, configured];
  const npmDirs = [];
  const npmCli = process.env['npm_execpath'];
  if (npmCli) npmDirs.push(join(dirname(npmCli), '..'));
  npmDirs.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'));
  for (const npmDir of npmDirs) {
    const bundled = join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bundled)) return [process.execPath, bundled];
  }
  return ['node-gyp'];
}

function nodedirArgs() {
  if (process.env['npm_config_nodedir']) return [];
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
}

const [command, ...prefixArgs] = nodeGyp();
const args = [...prefixArgs, 'rebuild', `--directory=${here}`, ...nodedirArgs()];
const r = spawnSync(command, args, { stdio: 'inherit' });
if (r.error) {
  console.error(`shadowmesh: cannot run node-gyp (${r.error.message}); install it with \`npm i -g node-gyp\` and run \`npm rebuild shadowmesh\``);
  process.exit(1);
}
process.exit(r.status ?? 1);
