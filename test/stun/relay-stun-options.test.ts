/** The relay's STUN options (src/relay/relay-options.ts: stun, stunListen) and their config mapping. */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { relayOptionsFromCli } from '../../src/cli/relay.js';
import { RELAY_DEFAULTS, resolveRelayOptions } from '../../src/relay/relay-options.js';

describe('relay STUN options', () => {
  it('default: on, at the WSS host and port', () => {
    assert.equal(RELAY_DEFAULTS.stun, true);
    assert.equal(RELAY_DEFAULTS.stunListen, null);
  });

  it('validates and freezes stunListen; rejects a non-boolean stun', () => {
    const o = resolveRelayOptions({ stunListen: { host: '::1', port: 3478 } });
    assert.deepEqual(o.stunListen, { host: '::1', port: 3478 });
    assert.ok(Object.isFrozen(o.stunListen));
    assert.throws(() => resolveRelayOptions({ stunListen: { host: '', port: 1 } }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => resolveRelayOptions({ stunListen: { host: 'a', port: 70_000 } }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => resolveRelayOptions({ stunListen: { host: 'a', port: 1, extra: 1 } as never }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => resolveRelayOptions({ stun: 'yes' as never }), { code: 'SM_ERR_CONFIG_VALUE' });
  });

  it('--no-stun and --stun-listen reach the relay options', () => {
    assert.equal(relayOptionsFromCli({ stun: false, ca: '/x' } as never).stun, false);
    assert.equal(relayOptionsFromCli({ ca: '/x' } as never).stun, undefined);
    assert.deepEqual(relayOptionsFromCli({ stunListen: '[::1]:3478', ca: '/x' } as never).stunListen, { host: '::1', port: 3478 });
  });
});
