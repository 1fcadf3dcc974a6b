/**
 * NATS decentralized authentication for tests (docs/configuration.md "Relay
 * cluster", `--cluster-creds`): an operator, an account and users as
 * JWTs signed with nkeys, the nats-server configuration that trusts the
 * operator and preloads the account (resolver MEMORY), and the credentials
 * files a user presents (its JWT and nkey seed), in the format `nsc` writes.
 *
 *     const op = natsOperator();
 *     const acct = op.account('SHADOWMESH');
 *     const config = op.serverConfig([acct]);         // for startNatsServer({ config })
 *     writeFileSync(file, acct.userCreds('relay-a', { allow: ['shadowmesh.>', '_INBOX.>'] }));
 *
 * What callers must know:
 *  - Only what nats-server checks is filled in: issuer, subject, type,
 *    version 2, the signature, permissions and no limits. The jti is the
 *    claims' SHA-512/256, as the Go library computes it.
 *  - An account not passed to serverConfig is unknown to the server: its
 *    users are refused (what a creds file from another deployment meets).
 */
import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/** RFC 4648 base32 without padding (the jti's encoding). */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A JWT for `subject` issued and signed by `issuer`. */
function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims['jti'] = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const signingInput = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${b64url(issuer.sign(new TextEncoder().encode(signingInput)))}`;
}

const NO_LIMITS = { subs: -1, data: -1, payload: -1 };

export interface NatsPermissions {
  /** Subjects the user may publish and subscribe to. */
  allow: string[];
}

export interface NatsAccount {
  readonly publicKey: string;
  readonly jwt: string;
  /** A credentials file's text for a new user of this account. */
  userCreds(name: string, permissions: NatsPermissions): string;
}

export interface NatsOperator {
  account(name: string): NatsAccount;
  /** nats-server configuration trusting this operator, with `accounts` preloaded. */
  serverConfig(accounts: NatsAccount[]): string;
}

export function natsOperator(): NatsOperator {
  const operator = createOperator();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), 'shadowmesh-test', { type: 'operator' });
  return {
    account(name: string): NatsAccount {
      const account = createAccount();
      const jwt = encodeJwt(operator, account.getPublicKey(), name, {
        type: 'account',
        limits: { ...NO_LIMITS, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 },
      });
      return {
        publicKey: account.getPublicKey(),
        jwt,
        userCreds(userName: string, permissions: NatsPermissions): string {
          const user = createUser();
          const userJwt = encodeJwt(account, user.getPublicKey(), userName, {
            type: 'user',
            pub: { allow: permissions.allow },
            sub: { allow: permissions.allow },
            ...NO_LIMITS,
          });
          const seed = new TextDecoder().decode(user.getSeed());
          return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
        },
      };
    },
    serverConfig(accounts: NatsAccount[]): string {
      const preload = accounts.map((a) => `  ${a.publicKey}: "${a.jwt}"`).join('\n');
      return `operator: "${operatorJwt}"\nresolver: MEMORY\nresolver_preload: {\n${preload}\n}\n`;
    },
  };
}
