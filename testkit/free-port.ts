/**
 * A TCP port free on 127.0.0.1 right now, for a process the test starts next
 * (--metrics, a direct-path listener, a relay restarted in place).
 */
import { createServer } from 'node:net';

/** A port free on 127.0.0.1 right now (bound and released); the process started next takes it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
