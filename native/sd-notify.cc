// ShadowMesh service-manager notification addon (docs/architecture.md "Components", docs/conventions.md §14).
//
// One function, because Node cannot send a unix datagram and systemd's
// Type=notify waits for one:
//
//   send(socketPath, message) -> 0, or the errno of the failure
//
// sends `message` ("READY=1", "STOPPING=1", "STATUS=...") as one datagram to
// `socketPath`, the value of $NOTIFY_SOCKET: a filesystem path ("/run/...")
// or, with a leading '@', a name in the abstract namespace. Sent from this
// process itself (not from a `systemd-notify` child), so the service manager
// attributes it to the main PID and NotifyAccess=main is enough.
//
// Never throws for a failing send: the caller decides whether a lost
// notification is worth a log line. Reading $NOTIFY_SOCKET, when to notify
// and what to say lives in src/cli/service-notify.ts.

#include <napi.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

namespace {

int SendDatagram(const std::string& path, const std::string& message) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || (path[0] != '/' && path[0] != '@')) return EAFNOSUPPORT;  // e.g. vsock: addresses
  if (path.size() > sizeof addr.sun_path) return ENAMETOOLONG;
  memcpy(addr.sun_path, path.data(), path.size());
  // '@' marks the abstract namespace: the name starts with a NUL byte and is not NUL-terminated.
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ssize_t n;
  do {
    n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  int result = n < 0 ? errno : 0;
  close(fd);
  return result;
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "send(socketPath: string, message: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = SendDatagram(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  return Napi::Number::New(env, err);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  return exports;
}

}  // namespace

NODE_API_MODULE(shadowmesh_notify, Init)
