/**
 * A throwaway service-manager socket for tests of src/cli/service-notify.ts:
 * a unix datagram socket bound the way systemd binds $NOTIFY_SOCKET, with
 * every datagram it receives kept in order.
 *
 *     const rx = await startNotifyReceiver();         // abstract name '@sm-notify-…'
 *     spawn(…, { env: { ...process.env, NOTIFY_SOCKET: rx.socketPath } });
 *     await rx.waitFor((m) => m.includes('READY=1'));
 *     await rx.close();                                // by pid
 *
 * What callers must know:
 *  - Node cannot bind a unix datagram socket, so the socket lives in a small
 *    python3 child (python3 is installed wherever node-gyp builds the addon);
 *    it prints one JSON string per datagram on stdout.
 *  - `socketPath` is an abstract name ('@…', no file to clean up) unless
 *    `filesystem` asks for a path in a fresh temp directory.
 *  - Only the child started here is ever signalled, by its pid.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** python3 binds and prints its first line in well under a second; generous for a loaded machine. */
const BIND_TIMEOUT_MS = 10_000;

const RECEIVER_PY = [
  'import json, socket, sys',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  'a = sys.argv[1]',
  "s.bind('\\0' + a[1:] if a.startswith('@') else a)",
  "print('bound', flush=True)",
  'while True:',
  "    print(json.dumps(s.recv(65536).decode('utf-8', 'replace')), flush=True)",
].join('\n');

export interface NotifyReceiver {
  /** The value for $NOTIFY_SOCKET. */
  readonly socketPath: string;
  /** Datagrams received so far, in order. */
  messages(): string[];
  /** Resolves with the first datagram (already received or coming) that `match` accepts; rejects after `timeoutMs`. */
  waitFor(match: (message: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startNotifyReceiver(options: { filesystem?: boolean } = {}): Promise<NotifyReceiver> {
  const dir = options.filesystem === true ? mkdtempSync(join(tmpdir(), 'sm-notify-')) : undefined;
  const socketPath = dir !== undefined ? join(dir, 'notify.sock') : `@sm-notify-${randomBytes(6).toString('hex')}`;
  const child = spawn('python3', ['-c', RECEIVER_PY, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const received: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  let bound!: () => void;
  const boundPromise = new Promise<void>((resolve) => { bound = resolve; });
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    buffered += t;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === 'bound') bound();
      else received.push(JSON.parse(line) as string);
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exited;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error(`notify receiver exited: ${stderr}`)));
    timer = setTimeout(() => reject(new Error(`notify receiver did not bind within ${BIND_TIMEOUT_MS} ms: ${stderr}`)), BIND_TIMEOUT_MS);
  });
  try {
    await Promise.race([boundPromise, failed]);
  } catch (err) {
    await close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  failed.catch(() => undefined);
  return {
    socketPath,
    messages: () => [...received],
    waitFor: (match, timeoutMs = BIND_TIMEOUT_MS) =>
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const found = received.find(match);
          if (found === undefined) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve(found);
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notification within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close,
  };
}
