/**
 * classifyNatsError (src/relay/cluster/cluster-errors.ts): the code a failed
 * NATS connection gets, from the errors the NATS client and Node's TLS
 * actually raise (the integration test relay-cluster-auth.test.ts meets
 * them from a real nats-server).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterCode, classifyNatsError } from '../../../src/relay/cluster/cluster-errors.js';

class AuthorizationError extends Error {
  override name = 'AuthorizationError';
}

test('refused credentials are NATS_AUTH', () => {
  assert.equal(classifyNatsError(new AuthorizationError('Authorization Violation')), ClusterCode.NATS_AUTH);
  assert.equal(classifyNatsError(new Error("'Authorization Violation'")), ClusterCode.NATS_AUTH);
});

test('certificate failures are NATS_TLS', () => {
  assert.equal(classifyNatsError(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })), ClusterCode.NATS_TLS);
  assert.equal(classifyNatsError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })), ClusterCode.NATS_TLS);
  assert.equal(classifyNatsError(new Error('wrapped', { cause: Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) })), ClusterCode.NATS_TLS);
});

test('anything else, and non-errors, are NATS_UNREACHABLE', () => {
  assert.equal(classifyNatsError(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })), ClusterCode.NATS_UNREACHABLE);
  assert.equal(classifyNatsError(null), ClusterCode.NATS_UNREACHABLE);
  assert.equal(classifyNatsError('text'), ClusterCode.NATS_UNREACHABLE);
});
