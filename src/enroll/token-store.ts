/**
 * Join tokens as the CA directory records them (docs/architecture.md
 * "Enrollment"):
 *
 *     CADIR/tokens/<id>.json   0600 {id, secretHash, groups, createdAt,
 *                              expiresAt, usesLeft}
 *
 * Only SHA-256 of the secret is stored, so reading the directory does not
 * give a usable token. Every change happens under the CA lock
 * (src/identity/ca.ts withCaLock): spending a use is read, check, write in
 * one locked step, so two joins cannot both spend the last use of a token.
 * A spent token stays (usesLeft 0) so a late join is told "used up", not
 * "unknown"; `ca token --revoke` deletes it.
 *
 * checkToken compares the secret's hash in constant time and reports an
 * unknown id and a wrong secret alike (SM_ERR_ENROLL_TOKEN_UNKNOWN), so a
 * guesser learns nothing about which ids exist.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { checkGroups } from '../identity/cert-fields.js';
import { withCaLock } from '../identity/ca.js';
import { fileError, pathExists, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, readPrivateFile, writeFileAtomic } from '../identity/secure-files.js';
import { randomBytes } from '../crypto/bytes.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { TOKEN_ID_BYTES, TOKEN_SECRET_BYTES } from './join-token.js';

export const CA_TOKENS_DIR = 'tokens';
/** Longest lifetime and most uses a token may have: a token is a key to the network, so it should be short-lived. */
export const MAX_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
export const MAX_TOKEN_USES = 1000;

export interface TokenRecord {
  id: string;
  /** Hex SHA-256 of the secret. */
  secretHash: string;
  groups: string[];
  createdAtMs: number;
  expiresAtMs: number;
  usesLeft: number;
}

const ID_RE = /^[0-9a-f]{16}$/;

function hashSecret(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('hex');
}

function tokenPath(caDir: string, id: string): string {
  return join(caDir, CA_TOKENS_DIR, `${id}.json`);
}

function parseRecord(text: string, path: string): TokenRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new EnrollError(EnrollCode.INTERNAL, `${path}: not JSON`, { cause: err });
  }
  const r = v as Partial<TokenRecord> | null;
  if (
    r === null || typeof r !== 'object' || typeof r.id !== 'string' || !ID_RE.test(r.id) || typeof r.secretHash !== 'string' || !/^[0-9a-f]{64}$/.test(r.secretHash) ||
    !Array.isArray(r.groups) || !r.groups.every((g) => typeof g === 'string') || !Number.isSafeInteger(r.createdAtMs) || !Number.isSafeInteger(r.expiresAtMs) ||
    !Number.isSafeInteger(r.usesLeft) || (r.usesLeft as number) < 0
  ) {
    throw new EnrollError(EnrollCode.INTERNAL, `${path}: not a token record`);
  }
  return { id: r.id, secretHash: r.secretHash, groups: r.groups, createdAtMs: r.createdAtMs as number, expiresAtMs: r.expiresAtMs as number, usesLeft: r.usesLeft as number };
}

async function readRecord(caDir: string, id: string): Promise<TokenRecord | null> {
  if (!ID_RE.test(id)) return null;
  const path = tokenPath(caDir, id);
  if (!(await pathExists(path))) return null;
  return parseRecord((await readPrivateFile(path)).toString('utf8'), path);
}

async function writeRecord(caDir: string, r: TokenRecord): Promise<void> {
  await writeFileAtomic(tokenPath(caDir, r.id), `${JSON.stringify(r)}\n`, { mode: PRIVATE_FILE_MODE });
}

/** Creates a token record (under the CA lock) and returns it with its secret, which is stored nowhere. */
export async function createTokenRecord(
  caDir: string,
  options: { groups?: string[]; ttlMs: number; uses: number; nowMs?: number },
): Promise<{ record: TokenRecord; secret: Uint8Array }> {
  const groups = options.groups ?? [];
  checkGroups(groups);
  if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs <= 0 || options.ttlMs > MAX_TOKEN_TTL_MS) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `--ttl: must be longer than 0 and at most 30d, got ${String(options.ttlMs)} ms`);
  }
  if (!Number.isSafeInteger(options.uses) || options.uses < 1 || options.uses > MAX_TOKEN_USES) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `--uses: must be a whole number 1..${MAX_TOKEN_USES}, got ${String(options.uses)}`);
  }
  const nowMs = options.nowMs ?? Date.now();
  return withCaLock(caDir, async () => {
    try {
      await mkdir(join(caDir, CA_TOKENS_DIR), { mode: PRIVATE_DIR_MODE, recursive: true });
    } catch (err) {
      throw fileError('create directory', join(caDir, CA_TOKENS_DIR), err);
    }
    const id = Buffer.from(randomBytes(TOKEN_ID_BYTES)).toString('hex');
    const secret = randomBytes(TOKEN_SECRET_BYTES);
    const record: TokenRecord = { id, secretHash: hashSecret(secret), groups: [...groups], createdAtMs: nowMs, expiresAtMs: nowMs + options.ttlMs, usesLeft: options.uses };
    await writeRecord(caDir, record);
    return { record, secret };
  });
}

/**
 * The record of a token that may be used now: known, secret matching,
 * unexpired, a use left. The caller holds the CA lock and spends the use
 * with spendTokenUse in the same locked step.
 */
export async function checkTokenLocked(caDir: string, id: string, secret: Uint8Array, nowMs: number): Promise<TokenRecord> {
  const unknown = new EnrollError(EnrollCode.TOKEN_UNKNOWN, `unknown join token ${ID_RE.test(id) ? id : '(malformed id)'}: never issued by this CA, revoked, or its secret is wrong`);
  const r = await readRecord(caDir, id);
  if (r === null) throw unknown;
  const given = Buffer.from(hashSecret(secret), 'hex');
  if (!timingSafeEqual(given, Buffer.from(r.secretHash, 'hex'))) throw unknown;
  if (nowMs >= r.expiresAtMs) throw new EnrollError(EnrollCode.TOKEN_EXPIRED, `join token ${id} expired at ${new Date(r.expiresAtMs).toISOString()}; ask for a new one (shadowmesh ca token)`);
  if (r.usesLeft <= 0) throw new EnrollError(EnrollCode.TOKEN_USED_UP, `join token ${id} is used up; ask for a new one (shadowmesh ca token)`);
  return r;
}

/** Spends one use of a token checked by checkTokenLocked; the caller holds the CA lock. */
export async function spendTokenUseLocked(caDir: string, r: TokenRecord): Promise<TokenRecord> {
  const next = { ...r, usesLeft: r.usesLeft - 1 };
  await writeRecord(caDir, next);
  return next;
}

/** Every token record, oldest first (for `ca token --list`). Unreadable files are skipped. */
export async function listTokenRecords(caDir: string): Promise<TokenRecord[]> {
  let names: string[];
  try {
    names = await readdir(join(caDir, CA_TOKENS_DIR));
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return [];
    throw fileError('list', join(caDir, CA_TOKENS_DIR), err);
  }
  const out: TokenRecord[] = [];
  for (const n of names) {
    const m = /^([0-9a-f]{16})\.json$/.exec(n);
    if (m === null) continue;
    try {
      const r = await readRecord(caDir, m[1] as string);
      if (r !== null) out.push(r);
    } catch {
      continue;
    }
  }
  return out.sort((a, b) => a.createdAtMs - b.createdAtMs);
}

/** Deletes a token (under the CA lock): it can no longer be used. SM_ERR_ENROLL_TOKEN_UNKNOWN when there is none. */
export async function revokeTokenRecord(caDir: string, id: string): Promise<void> {
  await withCaLock(caDir, async () => {
    if (!ID_RE.test(id) || !(await pathExists(tokenPath(caDir, id)))) throw new EnrollError(EnrollCode.TOKEN_UNKNOWN, `no join token ${id} in ${caDir}`);
    try {
      await unlink(tokenPath(caDir, id));
    } catch (err) {
      throw fileError('delete', tokenPath(caDir, id), err);
    }
  });
}
