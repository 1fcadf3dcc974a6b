// ShadowMesh native TAP/TUN addon (docs/architecture.md "Outbound: device to socket", docs/conventions.md §14).
//
// The smallest C surface that lets TypeScript drive a Linux TAP/TUN device:
//
//   open(name, kind, vnetHdr, offloads, multiQueue) -> { fd, name, offloads }
//   setMtu(name, mtu) / setMac(name, mac6) / setUp(name) / addAddress(name, family, address, prefixLen)
//   startReader(fd, slab, lengths, slotBytes, batch, onBatch)
//   writeBatch(fd, packets, count, result) -> packets written
//   close(fd)
//
// and what the UDP transport needs of its socket that Node's dgram cannot do:
//
//   forceSocketBuffers(fd, bytes) -> { rcvErrno, sndErrno }
//     SO_RCVBUFFORCE / SO_SNDBUFFORCE (CAP_NET_ADMIN): socket buffers past
//     net.core.rmem_max / wmem_max for that one socket, as wireguard-go does;
//     0 = set, else the errno (EPERM without the capability). Never throws
//     for a failing setsockopt: the caller keeps what it has.
//   socketAddress(family, address, port) -> Uint8Array | null
//     the sockaddr_in (family 4) or sockaddr_in6 (family 6; an IPv4
//     destination in its IPv4-mapped text) for sendDatagram, built once per
//     destination; null when `address` is not an IP literal of that family.
//   sendDatagram(fd, bytes, to) -> bytes sent, or -errno
//     one sendto(MSG_DONTWAIT) on the caller's thread, without the
//     JavaScript request and queue dgram's send builds per datagram before
//     its syscall. Never throws for a failing send: the caller falls back to
//     dgram, which queues while the socket is full.
//   sendSegments(fd, bytes, to, segmentBytes) -> bytes sent, or -errno
//     UDP segmentation offload (UDP_SEGMENT, Linux 4.18): `bytes` holds
//     datagrams of `segmentBytes` each laid end to end (the last may be
//     shorter) and one sendmsg(MSG_DONTWAIT) hands them all to the kernel,
//     which splits them as late as it can (in the NIC, or once in software
//     just before the device) instead of one syscall and one trip through
//     the stack per datagram. The caller keeps within the kernel's limits
//     (64 segments, one IP datagram's worth of bytes) and falls back to
//     sendDatagram on any error.
//   startDatagramReader(fd, slab, lengths, sources, segments, slotBytes, batch, onBatch) -> reader fd
//     reads the socket on the event loop as startReader reads a device, by
//     recvmmsg(2): up to `batch` datagrams per wake-up and one call into
//     JavaScript for all of them, instead of dgram's callback and 64 KiB
//     allocation per datagram. It reads a dup(2) of `fd` (returned; close()
//     it to stop): epoll watches a file description through one fd per
//     handle, and dgram's own handle keeps `fd` for sending. Per slot:
//     the length, the source (a sockaddr_in or sockaddr_in6 in 28 bytes of
//     `sources`) and, with UDP_GRO on, the segment size the kernel
//     coalesced by (0: one datagram); a datagram larger than its slot is
//     dropped and counted as a read error.
//   setUdpGro(fd, on) -> 0 or errno
//     UDP_GRO (Linux 5.0): the kernel hands over runs of same-size datagrams
//     from one source as one buffer with their segment size.
//
// All policy (names, defaults, which offloads to ask for, error wording,
// statistics) lives in src/node/device/*.ts. Errors thrown here are plain
// Errors carrying `errno` (positive) and `syscall`; the TypeScript side turns
// them into SM_ERR_DEVICE_* errors with a message that says what to do.
//
// Link configuration uses ioctl on a throwaway socket rather than iproute2 or
// netlink: no fork per call, no dependency on the `ip` binary, and a few
// dozen lines instead of a netlink message builder. The ioctl interface sets
// one primary IPv4 address per label (the TypeScript side uses `name:N`
// labels for more) and any number of IPv6 addresses (struct in6_ifreq).
//
// Reading happens on the event loop, with no thread: a uv_poll on the fd
// wakes the main thread when the device has packets; it read()s until
// EAGAIN or until `batch` packets sit in the caller's slab (an ArrayBuffer
// the JS side preallocated: slot i starts at i * slotBytes; its length goes
// to lengths[i]) and calls JS synchronously with the batch. No thread hop
// per wake-up (issue 12: a thread plus a thread-safe function cost two
// context switches and a queue per packet on an idle link), and the slab is
// not touched again before the callback returned, so at most one batch is
// ever in flight and nothing queues without bound. The poll is
// level-triggered: what is left past one batch is read on the next loop
// turn, after the sockets and timers already due. The callback receives
// (count, readErrors); a negative count (-errno) reports a fatal read error
// after which the reader has stopped.
//
// Writing is synchronous on the caller's thread: write() on a TAP/TUN fd
// does not wait for the network, it hands the packet to the stack. Failures
// (EAGAIN, EINVAL for a malformed packet, ...) are counted in `result` and
// never thrown per packet.

#include <napi.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include <map>
#include <string>

// Older libc headers lack the UDP segmentation socket option (Linux 4.18).
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// Newer than some distribution headers (Linux 6.2): UDP segmentation offload.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace {

// struct virtio_net_hdr without the num_buffers field: 10 bytes.
constexpr int kVnetHdrBytes = 10;

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + ": " + syscall + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool CopyIfName(const std::string& name, char (&out)[IFNAMSIZ]) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  memset(out, 0, IFNAMSIZ);
  memcpy(out, name.data(), name.size());
  return true;
}

// ---------------------------------------------------------------- open

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsBoolean() ||
      !info[3].IsNumber() || !info[4].IsBoolean()) {
    return ThrowType(env, "open(name: string, kind: 'tap'|'tun', vnetHdr: boolean, offloads: number, multiQueue: boolean)");
  }
  std::string name = info[0].As<Napi::String>();
  std::string kind = info[1].As<Napi::String>();
  bool vnet = info[2].As<Napi::Boolean>();
  unsigned int wanted = info[3].As<Napi::Number>().Uint32Value();
  bool multiQueue = info[4].As<Napi::Boolean>();
  if (kind != "tap" && kind != "tun") return ThrowType(env, "open: kind must be 'tap' or 'tun'");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyIfName(name, ifr.ifr_name)) return ThrowType(env, "open: name must be 1..15 bytes");
  ifr.ifr_flags = static_cast<short>((kind == "tap" ? IFF_TAP : IFF_TUN) | IFF_NO_PI |
                                     (vnet ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0));

  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open", errno, "/dev/net/tun");
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, "TUNSETIFF", err, name);
  }
  unsigned int accepted = 0;
  if (vnet) {
    int hdr = kVnetHdrBytes;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
      int err = errno;
      ::close(fd);
      return ThrowErrno(env, "TUNSETVNETHDRSZ", err, name);
    }
    // Ask for everything wanted; drop the newest flags first when the kernel
    // does not know them (EINVAL), down to nothing.
    const unsigned int tries[] = {
        wanted,
        wanted & ~static_cast<unsigned int>(TUN_F_USO4 | TUN_F_USO6),
        wanted & static_cast<unsigned int>(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
        wanted & static_cast<unsigned int>(TUN_F_CSUM),
    };
    for (unsigned int flags : tries) {
      if (ioctl(fd, TUNSETOFFLOAD, flags) == 0) {
        accepted = flags;
        break;
      }
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  out.Set("offloads", Napi::Number::New(env, accepted));
  return out;
}

// ---------------------------------------------------------------- link configuration

Napi::Value SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) return ThrowType(env, "setMtu(name: string, mtu: number)");
  std::string name = info[0].As<Napi::String>();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyIfName(name, ifr.ifr_name)) return ThrowType(env, "setMtu: name must be 1..15 bytes");
  ifr.ifr_mtu = info[1].As<Napi::Number>().Int32Value();
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, "socket", errno, name);
  int rc = ioctl(s, SIOCSIFMTU, &ifr);
  int err = errno;
  ::close(s);
  if (rc < 0) return ThrowErrno(env, "SIOCSIFMTU", err, name);
  return env.Undefined();
}

// A TAP device's Ethernet address (SIOCSIFHWADDR), set before the link is up.
Napi::Value SetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) return ThrowType(env, "setMac(name: string, mac: Uint8Array(6))");
  std::string name = info[0].As<Napi::String>();
  Napi::Uint8Array mac = info[1].As<Napi::Uint8Array>();
  if (mac.ElementLength() != 6) return ThrowType(env, "setMac: mac must be 6 bytes");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyIfName(name, ifr.ifr_name)) return ThrowType(env, "setMac: name must be 1..15 bytes");
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac.Data(), 6);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, "socket", errno, name);
  int rc = ioctl(s, SIOCSIFHWADDR, &ifr);
  int err = errno;
  ::close(s);
  if (rc < 0) return ThrowErrno(env, "SIOCSIFHWADDR", err, name);
  return env.Undefined();
}

Napi::Value SetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "setUp(name: string)");
  std::string name = info[0].As<Napi::String>();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyIfName(name, ifr.ifr_name)) return ThrowType(env, "setUp: name must be 1..15 bytes");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, "socket", errno, name);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  const char* call = "SIOCGIFFLAGS";
  if (rc == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    call = "SIOCSIFFLAGS";
  }
  int err = errno;
  ::close(s);
  if (rc < 0) return ThrowErrno(env, call, err, name);
  return env.Undefined();
}

// struct in6_ifreq from <linux/ipv6.h>, which clashes with <netinet/in.h>.
struct In6Ifreq {
  struct in6_addr addr;
  uint32_t prefixlen;
  int ifindex;
};

Napi::Value AddAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsString() || !info[3].IsNumber()) {
    return ThrowType(env, "addAddress(name: string, family: 4|6, address: string, prefixLen: number)");
  }
  std::string name = info[0].As<Napi::String>();
  int family = info[1].As<Napi::Number>().Int32Value();
  std::string address = info[2].As<Napi::String>();
  int prefix = info[3].As<Napi::Number>().Int32Value();
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!CopyIfName(name, ifr.ifr_name)) return ThrowType(env, "addAddress: name must be 1..15 bytes");

  if (family == 4) {
    if (prefix < 0 || prefix > 32) return ThrowType(env, "addAddress: IPv4 prefix must be 0..32");
    struct sockaddr_in* sin = reinterpret_cast<struct sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) return ThrowType(env, "addAddress: bad IPv4 address");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return ThrowErrno(env, "socket", errno, name);
    int rc = ioctl(s, SIOCSIFADDR, &ifr);
    const char* call = "SIOCSIFADDR";
    if (rc == 0) {
      sin->sin_addr.s_addr = prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
      rc = ioctl(s, SIOCSIFNETMASK, &ifr);
      call = "SIOCSIFNETMASK";
    }
    int err = errno;
    ::close(s);
    if (rc < 0) return ThrowErrno(env, call, err, name);
    return env.Undefined();
  }
  if (family == 6) {
    if (prefix < 0 || prefix > 128) return ThrowType(env, "addAddress: IPv6 prefix must be 0..128");
    In6Ifreq req;
    memset(&req, 0, sizeof req);
    if (inet_pton(AF_INET6, address.c_str(), &req.addr) != 1) return ThrowType(env, "addAddress: bad IPv6 address");
    req.prefixlen = static_cast<uint32_t>(prefix);
    int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return ThrowErrno(env, "socket", errno, name);
    int rc = ioctl(s, SIOCGIFINDEX, &ifr);
    const char* call = "SIOCGIFINDEX";
    if (rc == 0) {
      req.ifindex = ifr.ifr_ifindex;
      rc = ioctl(s, SIOCSIFADDR, &req);
      call = "SIOCSIFADDR";
    }
    int err = errno;
    ::close(s);
    if (rc < 0) return ThrowErrno(env, call, err, name);
    return env.Undefined();
  }
  return ThrowType(env, "addAddress: family must be 4 or 6");
}

// ---------------------------------------------------------------- reader (event loop)

// A sockaddr_in6 (or sockaddr_in) per datagram slot.
constexpr size_t kSourceBytes = sizeof(sockaddr_in6);
// Largest batch of one recvmmsg.
constexpr size_t kMaxDatagramBatch = 64;

struct Reader {
  int fd = -1;
  // A datagram socket (recvmmsg with sources and GRO segment sizes) rather than a device (read).
  bool datagrams = false;
  uint8_t* slab = nullptr;
  uint32_t* lengths = nullptr;
  uint8_t* sources = nullptr;
  uint16_t* segments = nullptr;
  size_t slotBytes = 0;
  size_t batch = 0;
  napi_env env = nullptr;
  uv_poll_t poll;
  Napi::FunctionReference onBatch;
  Napi::Reference<Napi::ArrayBuffer> slabRef;
  Napi::Reference<Napi::Uint32Array> lengthsRef;
  Napi::Reference<Napi::Uint8Array> sourcesRef;
  Napi::Reference<Napi::Uint16Array> segmentsRef;
  Napi::AsyncContext* context = nullptr;
  // Set by StopReader (possibly from inside the JS callback): the poll
  // callback must not touch the fd afterwards.
  bool stopped = false;
};

// Reader for each open fd that has one; main thread only.
std::map<int, Reader*> gReaders;

void FreeReader(uv_handle_t* handle) {
  Reader* r = static_cast<Reader*>(handle->data);
  r->onBatch.Reset();
  r->slabRef.Reset();
  r->lengthsRef.Reset();
  r->sourcesRef.Reset();
  r->segmentsRef.Reset();
  delete r->context;
  delete r;
}

// Stop polling `r` and free it once libuv has let go of the handle. Main
// thread only; safe to call from inside the reader's own JS callback.
void StopReaderPtr(Reader* r) {
  if (r->stopped) return;
  r->stopped = true;
  auto it = gReaders.find(r->fd);
  if (it != gReaders.end() && it->second == r) gReaders.erase(it);
  uv_poll_stop(&r->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), FreeReader);
}

// One batch to JS: (count, readErrors), count < 0 being -errno of a fatal
// read error. An exception from the callback is the process's uncaught
// exception, as it would be for any other event-loop callback.
void CallJs(Reader* r, int count, uint32_t readErrors) {
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  r->onBatch.MakeCallback(env.Global(), {Napi::Number::New(env, count), Napi::Number::New(env, readErrors)}, *r->context);
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(r->env, e.Value());
  }
}

// One recvmmsg into the reader's slots: datagrams kept (n), errors counted, or a fatal errno.
void ReadDatagrams(Reader* r, int& n, uint32_t& errors, int& fatal) {
  mmsghdr msgs[kMaxDatagramBatch];
  iovec iovs[kMaxDatagramBatch];
  alignas(cmsghdr) char control[kMaxDatagramBatch][CMSG_SPACE(sizeof(uint16_t))];
  size_t want = r->batch;
  for (size_t i = 0; i < want; i++) {
    iovs[i] = {r->slab + i * r->slotBytes, r->slotBytes};
    msghdr& h = msgs[i].msg_hdr;
    h = msghdr{};
    h.msg_name = r->sources + i * kSourceBytes;
    h.msg_namelen = kSourceBytes;
    h.msg_iov = &iovs[i];
    h.msg_iovlen = 1;
    h.msg_control = control[i];
    h.msg_controllen = sizeof control[i];
    msgs[i].msg_len = 0;
  }
  int got;
  do {
    got = recvmmsg(r->fd, msgs, static_cast<unsigned>(want), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EBADF || errno == ENOTSOCK) fatal = errno;
    else errors++;  // e.g. an ICMP error queued on the socket (ECONNREFUSED): count, go on
    return;
  }
  for (int i = 0; i < got; i++) {
    msghdr& h = msgs[i].msg_hdr;
    if ((h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      errors++;  // larger than a slot: dropped
      continue;
    }
    uint16_t segment = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(uint16_t))) {
        memcpy(&segment, CMSG_DATA(c), sizeof segment);
      }
    }
    // Keep the slots dense: move a kept datagram down over a dropped one.
    if (n != i) {
      memmove(r->slab + static_cast<size_t>(n) * r->slotBytes, r->slab + static_cast<size_t>(i) * r->slotBytes, msgs[i].msg_len);
      memmove(r->sources + static_cast<size_t>(n) * kSourceBytes, r->sources + static_cast<size_t>(i) * kSourceBytes, kSourceBytes);
    }
    r->lengths[n] = msgs[i].msg_len;
    r->segments[n] = segment;
    n++;
  }
}

void OnReadable(uv_poll_t* handle, int status, int events) {
  Reader* r = static_cast<Reader*>(handle->data);
  if (r->stopped) return;
  int n = 0;
  uint32_t errors = 0;
  int fatal = 0;
  if (status < 0) {
    fatal = -status;  // libuv reports the errno negated on Linux
  } else if (r->datagrams) {
    ReadDatagrams(r, n, errors, fatal);
  } else {
    while (static_cast<size_t>(n) < r->batch) {
      ssize_t got = read(r->fd, r->slab + static_cast<size_t>(n) * r->slotBytes, r->slotBytes);
      if (got > 0) {
        r->lengths[n++] = static_cast<uint32_t>(got);
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got < 0 && (errno == EBADF || errno == EBADFD || errno == ENXIO || errno == EIO)) {
        fatal = errno;  // device gone or fd closed: stop reading
        break;
      }
      errors++;  // a packet the kernel could not hand over (e.g. EINVAL): count, go on
      if (errors > r->batch) break;
    }
    if (n == 0 && errors == 0 && fatal == 0 && (events & UV_DISCONNECT) != 0) fatal = EIO;
  }
  if (n > 0 || errors > 0) {
    CallJs(r, n, errors);
    if (r->stopped) return;  // the callback closed the device
  }
  if (fatal != 0) {
    StopReaderPtr(r);
    CallJs(r, -fatal, 0);
  }
  // More than a batch ready: the poll is level-triggered, so the rest comes on
  // the next loop turn, after the sockets and timers that are due.
}

// Stop every reader when the environment goes away (a worker thread ends).
void CleanupReaders(void* /*arg*/) {
  while (!gReaders.empty()) StopReaderPtr(gReaders.begin()->second);
}

// Once per process (a second registration of the same hook aborts): stop every reader at environment teardown.
void HookReaderCleanup(napi_env env) {
  static bool hooked = false;
  if (hooked) return;
  napi_add_env_cleanup_hook(env, CleanupReaders, nullptr);
  hooked = true;
}

// Poll r->fd for `events`, calling `onBatch` per batch, and register the reader. On failure the reader is
// freed, a JS exception is pending and false is returned; r->fd stays the caller's to close (a dup it made).
bool StartPolling(Napi::Env env, Reader* r, Napi::Function onBatch, int events, const char* what, const char* asyncName) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    delete r;
    ThrowType(env, "no event loop");
    return false;
  }
  int rc = uv_poll_init(loop, &r->poll, r->fd);
  if (rc < 0) {
    delete r;
    ThrowErrno(env, "uv_poll_init", -rc, what);
    return false;
  }
  r->env = env;
  r->poll.data = r;
  r->onBatch = Napi::Persistent(onBatch);
  r->context = new Napi::AsyncContext(env, asyncName);
  rc = uv_poll_start(&r->poll, events, OnReadable);
  if (rc < 0) {
    r->stopped = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), FreeReader);
    ThrowErrno(env, "uv_poll_start", -rc, what);
    return false;
  }
  HookReaderCleanup(env);
  gReaders[r->fd] = r;
  return true;
}

Napi::Value StartReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsTypedArray() ||
      !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsFunction()) {
    return ThrowType(env, "startReader(fd, slab: ArrayBuffer, lengths: Uint32Array, slotBytes, batch, onBatch)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::ArrayBuffer slab = info[1].As<Napi::ArrayBuffer>();
  Napi::TypedArray lengthsTa = info[2].As<Napi::TypedArray>();
  if (lengthsTa.TypedArrayType() != napi_uint32_array) return ThrowType(env, "startReader: lengths must be a Uint32Array");
  Napi::Uint32Array lengths = lengthsTa.As<Napi::Uint32Array>();
  int64_t slotBytes = info[3].As<Napi::Number>().Int64Value();
  int64_t batch = info[4].As<Napi::Number>().Int64Value();
  if (slotBytes <= kVnetHdrBytes || batch <= 0 || static_cast<size_t>(batch) > lengths.ElementLength() ||
      static_cast<size_t>(slotBytes * batch) > slab.ByteLength()) {
    return ThrowType(env, "startReader: slab or lengths too small for slotBytes * batch");
  }
  if (gReaders.count(fd) != 0) return ThrowType(env, "startReader: this fd already has a reader");

  Reader* r = new Reader();
  r->fd = fd;
  r->slab = static_cast<uint8_t*>(slab.Data());
  r->lengths = lengths.Data();
  r->slotBytes = static_cast<size_t>(slotBytes);
  r->batch = static_cast<size_t>(batch);
  r->slabRef = Napi::Persistent(slab);
  r->lengthsRef = Napi::Persistent(lengths);
  StartPolling(env, r, info[5].As<Napi::Function>(), UV_READABLE | UV_DISCONNECT, "reader", "shadowmesh-tun-reader");
  return env.Undefined();
}

Napi::Value StartDatagramReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "startDatagramReader(fd, slab: ArrayBuffer, lengths: Uint32Array, sources: Uint8Array, segments: Uint16Array, slotBytes, batch, onBatch)";
  if (info.Length() < 8 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsTypedArray() || !info[3].IsTypedArray() ||
      !info[4].IsTypedArray() || !info[5].IsNumber() || !info[6].IsNumber() || !info[7].IsFunction()) {
    return ThrowType(env, usage);
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::ArrayBuffer slab = info[1].As<Napi::ArrayBuffer>();
  Napi::TypedArray lengthsTa = info[2].As<Napi::TypedArray>();
  Napi::TypedArray sourcesTa = info[3].As<Napi::TypedArray>();
  Napi::TypedArray segmentsTa = info[4].As<Napi::TypedArray>();
  if (lengthsTa.TypedArrayType() != napi_uint32_array || sourcesTa.TypedArrayType() != napi_uint8_array ||
      segmentsTa.TypedArrayType() != napi_uint16_array) {
    return ThrowType(env, usage);
  }
  Napi::Uint32Array lengths = lengthsTa.As<Napi::Uint32Array>();
  Napi::Uint8Array sources = sourcesTa.As<Napi::Uint8Array>();
  Napi::Uint16Array segments = segmentsTa.As<Napi::Uint16Array>();
  int64_t slotBytes = info[5].As<Napi::Number>().Int64Value();
  int64_t batch = info[6].As<Napi::Number>().Int64Value();
  if (fd < 0 || slotBytes <= 0 || batch <= 0 || static_cast<size_t>(batch) > kMaxDatagramBatch ||
      static_cast<size_t>(batch) > lengths.ElementLength() || static_cast<size_t>(batch) > segments.ElementLength() ||
      static_cast<size_t>(batch) * kSourceBytes > sources.ByteLength() || static_cast<size_t>(slotBytes * batch) > slab.ByteLength()) {
    return ThrowType(env, "startDatagramReader: fd >= 0, batch 1-64, and slab, lengths, sources (28 bytes a slot) and segments large enough");
  }
  int dupFd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) return ThrowErrno(env, "fcntl(F_DUPFD_CLOEXEC)", errno, "datagram reader");

  Reader* r = new Reader();
  r->fd = dupFd;
  r->datagrams = true;
  r->slab = static_cast<uint8_t*>(slab.Data());
  r->lengths = lengths.Data();
  r->sources = sources.Data();
  r->segments = segments.Data();
  r->slotBytes = static_cast<size_t>(slotBytes);
  r->batch = static_cast<size_t>(batch);
  r->slabRef = Napi::Persistent(slab);
  r->lengthsRef = Napi::Persistent(lengths);
  r->sourcesRef = Napi::Persistent(sources);
  r->segmentsRef = Napi::Persistent(segments);
  if (!StartPolling(env, r, info[7].As<Napi::Function>(), UV_READABLE, "datagram reader", "shadowmesh-udp-reader")) {
    ::close(dupFd);
    return env.Undefined();
  }
  return Napi::Number::New(env, dupFd);
}

Napi::Value SetUdpGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) return ThrowType(env, "setUdpGro(fd: number, on: boolean)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int on = info[1].As<Napi::Boolean>().Value() ? 1 : 0;
  if (fd < 0) return ThrowType(env, "setUdpGro: fd >= 0");
  return Napi::Number::New(env, setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0 ? errno : 0);
}

// Stop the reader of `fd`, if any (before the fd is closed: epoll must not
// watch a closed fd). Main thread only.
void StopReader(int fd) {
  auto it = gReaders.find(fd);
  if (it == gReaders.end()) return;
  StopReaderPtr(it->second);
}

// ---------------------------------------------------------------- write

Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber() || !info[3].IsTypedArray()) {
    return ThrowType(env, "writeBatch(fd, packets: Uint8Array[], count, result: Float64Array(3))");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array packets = info[1].As<Napi::Array>();
  uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  Napi::TypedArray resultTa = info[3].As<Napi::TypedArray>();
  if (resultTa.TypedArrayType() != napi_float64_array || resultTa.ElementLength() < 3) {
    return ThrowType(env, "writeBatch: result must be a Float64Array of length >= 3");
  }
  double* result = resultTa.As<Napi::Float64Array>().Data();
  if (count > packets.Length()) count = packets.Length();
  double okPackets = 0, okBytes = 0;
  int lastErrno = 0;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = packets.Get(i);
    if (!v.IsTypedArray()) {
      lastErrno = EINVAL;
      continue;
    }
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint8_array) {
      lastErrno = EINVAL;
      continue;
    }
    Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
    ssize_t n;
    do {
      n = write(fd, u8.Data(), u8.ByteLength());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      lastErrno = errno;
      continue;
    }
    okPackets += 1;
    okBytes += static_cast<double>(n);
  }
  result[0] = okPackets;
  result[1] = okBytes;
  result[2] = lastErrno;
  return Napi::Number::New(env, okPackets);
}

// ---------------------------------------------------------------- close

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "close(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  StopReader(fd);
  if (::close(fd) < 0 && errno != EINTR) return ThrowErrno(env, "close", errno, "tun fd");
  return env.Undefined();
}

// SO_RCVBUFFORCE / SO_SNDBUFFORCE on a socket the caller owns (see the header). 0 or the errno, per direction.
Napi::Value ForceSocketBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "forceSocketBuffers(fd: number, bytes: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int bytes = info[1].As<Napi::Number>().Int32Value();
  if (fd < 0 || bytes <= 0) return ThrowType(env, "forceSocketBuffers: fd >= 0 and bytes > 0");
  int rcv = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 ? errno : 0;
  int snd = setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0 ? errno : 0;
  Napi::Object out = Napi::Object::New(env);
  out.Set("rcvErrno", Napi::Number::New(env, rcv));
  out.Set("sndErrno", Napi::Number::New(env, snd));
  return out;
}

// A copy of `n` bytes at `p` in a new Uint8Array.
Napi::Value BytesOf(Napi::Env env, const void* p, size_t n) {
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  memcpy(out.Data(), p, n);
  return out;
}

Napi::Value SocketAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    return ThrowType(env, "socketAddress(family: 4 | 6, address: string, port: number)");
  }
  int family = info[0].As<Napi::Number>().Int32Value();
  std::string address = info[1].As<Napi::String>().Utf8Value();
  double port = info[2].As<Napi::Number>().DoubleValue();
  if ((family != 4 && family != 6) || !(port >= 1 && port <= 65535) || port != static_cast<int>(port)) {
    return ThrowType(env, "socketAddress: family 4 or 6, port 1-65535");
  }
  if (address.find('\0') != std::string::npos) return env.Null();  // inet_pton would read only up to the NUL
  if (family == 4) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) return env.Null();
    return BytesOf(env, &a, sizeof a);
  }
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET6, address.c_str(), &a.sin6_addr) != 1) return env.Null();  // a zone (%eth0) is not a literal here
  return BytesOf(env, &a, sizeof a);
}

Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    return ThrowType(env, "sendDatagram(fd: number, bytes: Uint8Array, to: Uint8Array)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::TypedArray bytesArg = info[1].As<Napi::TypedArray>();
  Napi::TypedArray toArg = info[2].As<Napi::TypedArray>();
  if (bytesArg.TypedArrayType() != napi_uint8_array || toArg.TypedArrayType() != napi_uint8_array) {
    return ThrowType(env, "sendDatagram: bytes and to must be Uint8Arrays");
  }
  Napi::Uint8Array bytes = bytesArg.As<Napi::Uint8Array>();
  Napi::Uint8Array to = toArg.As<Napi::Uint8Array>();
  if (fd < 0 || (to.ByteLength() != sizeof(sockaddr_in) && to.ByteLength() != sizeof(sockaddr_in6))) {
    return ThrowType(env, "sendDatagram: fd >= 0 and `to` from socketAddress()");
  }
  ssize_t n;
  do {
    n = sendto(fd, bytes.Data(), bytes.ByteLength(), MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(to.Data()), static_cast<socklen_t>(to.ByteLength()));
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value SendSegments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
    return ThrowType(env, "sendSegments(fd: number, bytes: Uint8Array, to: Uint8Array, segmentBytes: number)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::TypedArray bytesArg = info[1].As<Napi::TypedArray>();
  Napi::TypedArray toArg = info[2].As<Napi::TypedArray>();
  double segment = info[3].As<Napi::Number>().DoubleValue();
  if (bytesArg.TypedArrayType() != napi_uint8_array || toArg.TypedArrayType() != napi_uint8_array) {
    return ThrowType(env, "sendSegments: bytes and to must be Uint8Arrays");
  }
  Napi::Uint8Array bytes = bytesArg.As<Napi::Uint8Array>();
  Napi::Uint8Array to = toArg.As<Napi::Uint8Array>();
  if (fd < 0 || (to.ByteLength() != sizeof(sockaddr_in) && to.ByteLength() != sizeof(sockaddr_in6))) {
    return ThrowType(env, "sendSegments: fd >= 0 and `to` from socketAddress()");
  }
  if (!(segment >= 1 && segment <= 65535) || segment != static_cast<int>(segment)) {
    return ThrowType(env, "sendSegments: segmentBytes 1-65535");
  }
  iovec iov{bytes.Data(), bytes.ByteLength()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
  msghdr msg{};
  msg.msg_name = to.Data();
  msg.msg_namelen = static_cast<socklen_t>(to.ByteLength());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t gso = static_cast<uint16_t>(segment);
  memcpy(CMSG_DATA(c), &gso, sizeof gso);
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("setMtu", Napi::Function::New(env, SetMtu, "setMtu"));
  exports.Set("setMac", Napi::Function::New(env, SetMac, "setMac"));
  exports.Set("setUp", Napi::Function::New(env, SetUp, "setUp"));
  exports.Set("addAddress", Napi::Function::New(env, AddAddress, "addAddress"));
  exports.Set("startReader", Napi::Function::New(env, StartReader, "startReader"));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("forceSocketBuffers", Napi::Function::New(env, ForceSocketBuffers, "forceSocketBuffers"));
  exports.Set("socketAddress", Napi::Function::New(env, SocketAddress, "socketAddress"));
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram, "sendDatagram"));
  exports.Set("sendSegments", Napi::Function::New(env, SendSegments, "sendSegments"));
  exports.Set("startDatagramReader", Napi::Function::New(env, StartDatagramReader, "startDatagramReader"));
  exports.Set("setUdpGro", Napi::Function::New(env, SetUdpGro, "setUdpGro"));
  exports.Set("VNET_HDR_BYTES", Napi::Number::New(env, kVnetHdrBytes));
  exports.Set("TUN_F_CSUM", Napi::Number::New(env, TUN_F_CSUM));
  exports.Set("TUN_F_TSO4", Napi::Number::New(env, TUN_F_TSO4));
  exports.Set("TUN_F_TSO6", Napi::Number::New(env, TUN_F_TSO6));
  exports.Set("TUN_F_USO4", Napi::Number::New(env, TUN_F_USO4));
  exports.Set("TUN_F_USO6", Napi::Number::New(env, TUN_F_USO6));
  return exports;
}

}  // namespace

NODE_API_MODULE(shadowmesh_tun, Init)
