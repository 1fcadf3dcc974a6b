/**
 * Node one-liners for exact transfers in the netns lab (run with
 * `process.execPath -e SCRIPT …` inside a namespace). Both ends hash what
 * crossed, so a test can demand byte-for-byte equality, which iperf3's
 * counters cannot give.
 */

/** Receiver `ip port`: prints `listening`, then {bytes, sha256} of everything read on one connection ({error, bytes} and exit 2 on a socket error). */
export const HASHED_RECEIVER_JS = `
const net = require('node:net'); const { createHash } = require('node:crypto');
const [ip, port] = process.argv.slice(1);
const srv = net.createServer((s) => {
  const h = createHash('sha256'); let n = 0;
  s.on('data', (c) => { h.update(c); n += c.length; });
  s.on('error', (e) => { console.log(JSON.stringify({ error: e.message, bytes: n })); process.exit(2); });
  s.on('end', () => { console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') })); srv.close(); });
});
srv.listen(Number(port), ip, () => console.log('listening'));`;

/** Sender `ip port seconds rate`: numbered chunks of `chunkBytes` for SECONDS at RATE bytes/s, then {bytes, sha256} of what it wrote. */
export function pacedSenderJs(chunkBytes: number): string {
  return `
const net = require('node:net'); const { createHash, randomBytes } = require('node:crypto');
const [ip, port, seconds, rate] = process.argv.slice(1);
const base = randomBytes(${chunkBytes}); const h = createHash('sha256');
let n = 0; let idx = 0; const t0 = Date.now(); const end = t0 + Number(seconds) * 1000;
const s = net.connect(Number(port), ip, () => {
  const pump = () => {
    for (;;) {
      const now = Date.now();
      if (now >= end) return void s.end(() => console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') })));
      if (n > Number(rate) * (now - t0) / 1000) return void setTimeout(pump, 5);
      const c = Buffer.from(base); c.writeUInt32BE(idx++, 0);
      h.update(c); n += c.length;
      if (!s.write(c)) return void s.once('drain', pump);
    }
  };
  pump();
});
s.on('error', (e) => { console.error(e.message); process.exit(2); });`;
}
