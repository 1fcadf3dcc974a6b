/**
 * openDevice without a kernel: option validation, the error each errno maps
 * to (through a fake addon), that a failed configuration closes the fd, and
 * the loader's messages when the addon is missing or broken.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DeviceCode } from '../../../src/node/device/device-errors.js';
import type { NativeTunAddon } from '../../../src/node/device/native-loader.js';
import { loadFrom } from '../../../src/node/device/native-loader.js';
import { DEFAULT_DEVICE_MTU, isValidInterfaceName, openNativeDevice, resolveDeviceOptions } from '../../../src/node/device/open-device.js';

const codeIs = (code: string, message?: RegExp) => (e: unknown): boolean => {
  assert.equal((e as { code?: string }).code, code, String(e));
  if (message !== undefined) assert.match((e as Error).message, message);
  return true;
};

function errnoError(errno: number, syscall: string): Error {
  return Object.assign(new Error(`${syscall} failed`), { errno, syscall });
}

interface FakeCalls { closed: number[]; addresses: string[]; mtu: number[]; up: number; macs: string[]; order: string[] }

function fakeAddon(fail: Partial<Record<'open' | 'setMtu' | 'setMac' | 'addAddress' | 'setUp', Error>>): { addon: NativeTunAddon; calls: FakeCalls } {
  const calls: FakeCalls = { closed: [], addresses: [], mtu: [], up: 0, macs: [], order: [] };
  const addon: NativeTunAddon = {
    open(name) {
      if (fail.open) throw fail.open;
      return { fd: 42, name: name.replace('%d', '3'), offloads: 0x07 };
    },
    setMtu(_name, mtu) {
      if (fail.setMtu) throw fail.setMtu;
      calls.mtu.push(mtu);
    },
    setMac(_name, mac) {
      if (fail.setMac) throw fail.setMac;
      calls.macs.push(Buffer.from(mac).toString('hex'));
      calls.order.push('mac');
    },
    setUp() {
      if (fail.setUp) throw fail.setUp;
      calls.up++;
      calls.order.push('up');
    },
    addAddress(label, family, address, prefix) {
      if (fail.addAddress) throw fail.addAddress;
      calls.addresses.push(`${label} ${family} ${address}/${prefix}`);
    },
    startReader() {},
    writeBatch: () => 0,
    close(fd) {
      calls.closed.push(fd);
    },
    forceSocketBuffers: () => ({ rcvErrno: 0, sndErrno: 0 }),
    socketAddress: () => null,
    sendDatagram: () => -1,
    sendSegments: () => -1,
    startDatagramReader: () => -1,
    setUdpGro: () => 95,
    VNET_HDR_BYTES: 10,
    TUN_F_CSUM: 1,
    TUN_F_TSO4: 2,
    TUN_F_TSO6: 4,
    TUN_F_USO4: 0x20,
    TUN_F_USO6: 0x40,
  };
  return { addon, calls };
}

test('resolveDeviceOptions: defaults, frozen, and every bad option named', () => {
  const tun = resolveDeviceOptions({ kind: 'tun' });
  assert.deepEqual({ ...tun }, { kind: 'tun', name: 'sm%d', mtu: DEFAULT_DEVICE_MTU, addresses: [], offloads: true, readBatch: 32 });
  assert.ok(Object.isFrozen(tun));
  assert.equal(resolveDeviceOptions({ kind: 'tap' }).name, 'smtap%d');
  assert.throws(() => resolveDeviceOptions({ kind: 'eth' as 'tun' }), codeIs(DeviceCode.OPTION, /kind/));
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', mtu: 1279 }), codeIs(DeviceCode.OPTION, /mtu.*1279/));
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', addresses: ['10.0.0.1'] }), codeIs(DeviceCode.OPTION, /addresses/));
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', offloads: 'yes' as unknown as boolean }), codeIs(DeviceCode.OPTION, /offloads/));
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', readBatch: 0 }), codeIs(DeviceCode.OPTION, /readBatch/));
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', nmae: 'x' } as never), codeIs(DeviceCode.OPTION, /unknown option "nmae"/));
});

test('isValidInterfaceName: the kernel rules plus one %d', () => {
  for (const ok of ['sm0', 'sm%d', 'a', 'tap-1.x_y', '123456789012345']) assert.equal(isValidInterfaceName(ok), true, ok);
  for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'sm%d%d', 'sm%s', 'sm%', '1234567890123456', 'é'.repeat(8)]) assert.equal(isValidInterfaceName(bad), false, bad);
});

test('openNativeDevice: configures MTU, addresses (IPv4 labels name:N), then brings the link up', () => {
  const { addon, calls } = fakeAddon({});
  const d = openNativeDevice(addon, resolveDeviceOptions({ kind: 'tun', mtu: 1500, addresses: ['10.1.0.1/24', 'fd00::1/64', '10.2.0.1/16'] }));
  assert.equal(d.name, 'sm3');
  assert.equal(d.offloads, 0x07);
  assert.deepEqual(calls.mtu, [1500]);
  assert.deepEqual(calls.addresses, ['sm3 4 10.1.0.1/24', 'sm3 6 fd00::1/64', 'sm3:1 4 10.2.0.1/16']);
  assert.equal(calls.up, 1);
});

test('openNativeDevice: each errno becomes a coded error that says what to do; a failed configuration closes the fd', () => {
  const cases: Array<[Partial<Record<'open' | 'setMtu' | 'addAddress' | 'setUp', Error>>, string, RegExp, boolean]> = [
    [{ open: errnoError(1, 'TUNSETIFF') }, DeviceCode.PERMISSION, /opening \/dev\/net\/tun needs CAP_NET_ADMIN \(run as root or grant the capability/, false],
    [{ open: errnoError(13, 'open') }, DeviceCode.PERMISSION, /CAP_NET_ADMIN/, false],
    [{ open: errnoError(2, 'open') }, DeviceCode.NO_TUN, /\/dev\/net\/tun missing: load the tun module/, false],
    [{ open: errnoError(16, 'TUNSETIFF') }, DeviceCode.BUSY, /name sm%d is in use/, false],
    [{ open: errnoError(24, 'open') }, DeviceCode.OPEN, /open failed/, false],
    [{ setMtu: errnoError(22, 'SIOCSIFMTU') }, DeviceCode.MTU, /MTU 1400 on sm3/, true],
    [{ addAddress: errnoError(17, 'SIOCSIFADDR') }, DeviceCode.ADDRESS, /10\.1\.0\.1\/24 is already assigned/, true],
    [{ addAddress: errnoError(1, 'SIOCSIFADDR') }, DeviceCode.PERMISSION, /configuring sm3 \(address 10\.1\.0\.1\/24\) needs CAP_NET_ADMIN/, true],
    [{ setUp: errnoError(19, 'SIOCSIFFLAGS') }, DeviceCode.OPEN, /cannot bring up sm3/, true],
  ];
  for (const [fail, code, message, opened] of cases) {
    const { addon, calls } = fakeAddon(fail);
    assert.throws(() => openNativeDevice(addon, resolveDeviceOptions({ kind: 'tun', addresses: ['10.1.0.1/24'] })), codeIs(code, message));
    assert.deepEqual(calls.closed, opened ? [42] : [], `fd closed after ${code}`);
  }
});

test('loader: a missing or broken addon names what to install and how to rebuild', () => {
  if (process.platform !== 'linux') {
    assert.throws(() => loadFrom('/nonexistent.node'), codeIs('SM_ERR_DEVICE_UNSUPPORTED'));
    return;
  }
  assert.throws(() => loadFrom('/nonexistent/shadowmesh_tun.node'), codeIs(DeviceCode.ADDON, /not found at .*g\+\+.*make.*python3.*headers.*node-gyp rebuild --directory=native/s));
  const dir = mkdtempSync(join(tmpdir(), 'sm-loader-'));
  try {
    const junk = join(dir, 'junk.node');
    writeFileSync(junk, 'not an ELF file');
    assert.throws(() => loadFrom(junk), codeIs(DeviceCode.ADDON, /does not load .*another Node version.*rebuild/s));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TAP device gets the given MAC before it goes up; a TUN or a multicast MAC is refused', () => {
  const { addon, calls } = fakeAddon({});
  const mac = Uint8Array.from([0x02, 1, 2, 3, 4, 5]);
  const dev = openNativeDevice(addon, resolveDeviceOptions({ kind: 'tap', mac }));
  assert.deepEqual(calls.macs, ['020102030405']);
  assert.deepEqual(calls.order, ['mac', 'up']);
  void dev.close();
  assert.throws(() => resolveDeviceOptions({ kind: 'tun', mac }), (e: unknown) => (e as { code?: string }).code === DeviceCode.OPTION);
  assert.throws(() => resolveDeviceOptions({ kind: 'tap', mac: Uint8Array.from([1, 0, 0x5e, 0, 0, 1]) }), (e: unknown) => (e as { code?: string }).code === DeviceCode.OPTION);
  assert.throws(() => resolveDeviceOptions({ kind: 'tap', mac: new Uint8Array(5) }), (e: unknown) => (e as { code?: string }).code === DeviceCode.OPTION);
});
