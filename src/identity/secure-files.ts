/**
 * File-system helpers for key material and the objects beside it.
 *
 * - writeFileAtomic: writes a temporary file in the target's directory,
 *   created with its final mode (0600 for secrets, so there is never a
 *   moment where a key is readable by others), fsyncs it, then renames it
 *   over the target, or, with `noClobber`, hard-links it into place so that
 *   two concurrent writers cannot both "create" the file (the loser gets
 *   SM_ERR_ID_EXISTS). Readers see the old file or the new one, never half.
 * - readPrivateFile: opens a key file and checks, on the opened descriptor,
 *   that it is a regular file no one but the owner can read or write (as ssh
 *   refuses a group/world-readable private key); SM_ERR_ID_PERMISSIONS.
 *   The check is skipped on Windows, where mode bits mean nothing.
 * - readSecretTextFile: the same check for a passphrase file; a symbolic
 *   link is followed (secret mounts are links) and the target's mode judged.
 * - every failure is an IdentityError naming the path: SM_ERR_ID_MISSING
 *   when a required file is absent, SM_ERR_ID_FILE for other I/O errors.
 */
import { constants as fsConstants } from 'node:fs';
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IdentityError } from '../errors.js';
import { IdentityCode } from './identity-errors.js';

/** Owner read/write only: the mode of every secret file. */
export const PRIVATE_FILE_MODE = 0o600;
/** Owner only: the mode of directories we create to hold secrets. */
export const PRIVATE_DIR_MODE = 0o700;
/** World-readable: public keys and certificates are meant to be shared. */
export const PUBLIC_FILE_MODE = 0o644;
/** Largest file we read into memory: our biggest object (a full CRL, armored) stays far below. */
export const MAX_READ_FILE_BYTES = 4 * 1024 * 1024;
/** Mode bits that must be clear on a private file: any access by group or others. */
const GROUP_OTHER_MASK = 0o077;

function errnoCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Wraps an I/O error as an IdentityError naming the path and the operation. */
export function fileError(op: string, path: string, err: unknown): IdentityError {
  const code = errnoCode(err);
  if (code === 'ENOENT') return new IdentityError(IdentityCode.MISSING, `cannot ${op} ${path}: no such file or directory`, { cause: err });
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error)?.message ?? String(err);
  return new IdentityError(IdentityCode.FILE, `cannot ${op} ${path}: ${why}`, { cause: err });
}

/** Creates `dir` (and parents) with mode 0700 when missing; an existing directory is left as it is. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (err) {
    throw fileError('create directory', dir, err);
  }
}

/** True when `path` exists (any type). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    return true;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename durable on crash; not possible on every platform, so best effort.
  try {
    const h = await open(dir, fsConstants.O_RDONLY);
    try { await h.sync(); } finally { await h.close(); }
  } catch { /* best effort */ }
}

export interface AtomicWriteOptions {
  mode: number;
  /** Fail with SM_ERR_ID_EXISTS instead of replacing an existing file. */
  noClobber?: boolean;
}

/** Atomically replaces (or, with noClobber, creates) `path` with `data`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: AtomicWriteOptions): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, options.mode);
  } catch (err) {
    throw fileError('write', path, err);
  }
  let placed = false;
  try {
    try {
      // The umask may have removed bits; chmod restores the intended mode (never widens a private file).
      await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.noClobber === true) {
      try {
        await link(tmp, path);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') throw new IdentityError(IdentityCode.EXISTS, `${path} already exists`);
        throw err;
      }
    } else {
      await rename(tmp, path);
      placed = true;
    }
    await fsyncDir(dir);
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw fileError('write', path, err);
  } finally {
    if (!placed) await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Reads a private key file, refusing one that is not a regular file or that
 * group/others can access. SM_ERR_ID_MISSING / SM_ERR_ID_PERMISSIONS / SM_ERR_ID_FILE.
 */
export async function readPrivateFile(path: string): Promise<Buffer> {
  return readOwnerOnlyFile(path, 'the private key', false);
}

/**
 * Reads a passphrase file, refusing one that group/others can access, as a
 * key file is (SM_ERR_ID_PERMISSIONS names the file and the chmod that fixes
 * it). A symbolic link is followed; the mode checked is the target's.
 */
export async function readSecretTextFile(path: string): Promise<string> {
  const data = await readOwnerOnlyFile(path, 'the passphrase', true);
  try {
    return data.toString('utf8');
  } finally {
    data.fill(0);
  }
}

async function readOwnerOnlyFile(path: string, what: string, followLinks: boolean): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | (followLinks ? 0 : (fsConstants.O_NOFOLLOW ?? 0)));
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw new IdentityError(IdentityCode.PERMISSIONS, `refusing ${path}: it is a symbolic link`, { cause: err });
    throw fileError('read', path, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new IdentityError(IdentityCode.FILE, `cannot read ${path}: not a regular file`);
    if (process.platform !== 'win32' && (st.mode & GROUP_OTHER_MASK) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new IdentityError(
        IdentityCode.PERMISSIONS,
        `refusing ${path}: mode ${mode} lets group or others access ${what}; run chmod 600 ${path}`,
      );
    }
    if (st.size > MAX_READ_FILE_BYTES) throw new IdentityError(IdentityCode.FILE, `cannot read ${path}: larger than ${MAX_READ_FILE_BYTES} bytes`);
    return await handle.readFile();
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw fileError('read', path, err);
  } finally {
    await handle.close();
  }
}

/** Reads a public file (certificate, public key, CRL) with size limit; errors name the path. */
export async function readPublicFile(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    const h = await open(path, fsConstants.O_RDONLY);
    try {
      const st = await h.stat();
      if (!st.isFile()) throw new IdentityError(IdentityCode.FILE, `cannot read ${path}: not a regular file`);
      if (st.size > MAX_READ_FILE_BYTES) throw new IdentityError(IdentityCode.FILE, `cannot read ${path}: larger than ${MAX_READ_FILE_BYTES} bytes`);
      data = await h.readFile();
    } finally {
      await h.close();
    }
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw fileError('read', path, err);
  }
  return data;
}

/** Reads a small public text file; errors name the path. */
export async function readTextFile(path: string): Promise<string> {
  return (await readPublicFile(path)).toString('utf8');
}
