// ShadowMesh native AEAD contexts (docs/architecture.md "Native AEAD
// contexts", docs/conventions.md §6 and §14).
//
// node:crypto has no re-keyable AEAD object: every sealed or opened DATA frame
// built a fresh Cipheriv/Decipheriv (an OpenSSL EVP_CIPHER_CTX, its key
// schedule and a JS wrapper), which was a measured eighth of the direct path's
// CPU (BENCHMARKS.md "Seal and open with reused cipher contexts"). This addon
// keeps one EVP_CIPHER_CTX per key and direction, keyed once, and per packet
// only sets the nonce and runs update/final into the caller's memory: no
// allocation per packet on either side of the boundary.
//
//   create(alg, key, encrypt) -> handle   alg 0 = ChaCha20-Poly1305 (RFC 8439), 1 = AES-256-GCM
//   seal(handle, nonce, buf, offset, aadLength, plaintextLength) -> boolean
//       in place: aad = buf[offset, +aadLength), the plaintext follows it and
//       is replaced by the ciphertext, the 16-byte tag is written after it
//   open(handle, nonce, aad, sealed, out) -> plaintext length, or -1
//       sealed = ciphertext || tag; the plaintext goes to out[0, length);
//       on a failed tag those bytes are zeroed before returning -1
//   destroy(handle)                        frees (and cleanses) the context
//
// The primitives are OpenSSL's, the same ones node:crypto runs: Node exports
// its libcrypto symbols to addons, so nothing is linked or bundled here and
// the ciphers are exactly Node's. Nonce policy (counters that only move
// forward), argument checks with coded errors, and the choice between this
// addon and node:crypto live in src/crypto/aead.ts; this file trusts lengths
// only after checking them against the views it was handed, so a wrong call
// throws a TypeError instead of touching memory outside them.
//
// A handle is a type-tagged napi External; the finalizer frees a context the
// caller forgot to destroy. Calls are synchronous and never re-enter JS.

#include <napi.h>

#include <openssl/evp.h>

#include <string.h>

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
// EVP_CipherUpdate takes an int length; frames are at most 64 KiB plus headers.
constexpr size_t kMaxLength = 0x7fffffff;

// Marks handles made by create(): a foreign External is refused, not cast.
const napi_type_tag kHandleTag = {0x5348'4d41'4541'4431ULL, 0x8e1f'3c5a'77d2'0b64ULL};

struct AeadContext {
  EVP_CIPHER_CTX* ctx;
  int encrypt;
};

void FreeContext(AeadContext* c) {
  if (c->ctx != nullptr) {
    EVP_CIPHER_CTX_free(c->ctx);  // resets the context, which cleanses the key schedule
    c->ctx = nullptr;
  }
}

void Finalize(Napi::Env /*env*/, AeadContext* c) {
  FreeContext(c);
  delete c;
}

Napi::Value ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

AeadContext* Unwrap(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(v.Env(), v, &kHandleTag, &tagged) != napi_ok || !tagged) return nullptr;
  return v.As<Napi::External<AeadContext>>().Data();
}

bool IsBytes(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !IsBytes(info[1]) || !info[2].IsBoolean()) {
    return ThrowType(env, "create(alg: 0|1, key: Uint8Array(32), encrypt: boolean)");
  }
  const uint32_t alg = info[0].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array key = info[1].As<Napi::Uint8Array>();
  const int encrypt = info[2].As<Napi::Boolean>().Value() ? 1 : 0;
  if (alg > 1) return ThrowType(env, "create: alg must be 0 (chacha20-poly1305) or 1 (aes-256-gcm)");
  if (key.ByteLength() != kKeyBytes) return ThrowType(env, "create: key must be 32 bytes");
  const EVP_CIPHER* cipher = alg == 0 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr || cipher == nullptr ||
      EVP_CipherInit_ex(ctx, cipher, nullptr, nullptr, nullptr, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) != 1 ||
      EVP_CipherInit_ex(ctx, nullptr, nullptr, key.Data(), nullptr, encrypt) != 1) {
    if (ctx != nullptr) EVP_CIPHER_CTX_free(ctx);
    Napi::Error::New(env, "create: OpenSSL could not set up the cipher context").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  AeadContext* c = new AeadContext{ctx, encrypt};
  Napi::External<AeadContext> handle = Napi::External<AeadContext>::New(env, c, Finalize);
  if (napi_type_tag_object(env, handle, &kHandleTag) != napi_ok) {
    Napi::Error::New(env, "create: cannot tag the handle").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return handle;
}

Napi::Value Seal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AeadContext* c = info.Length() >= 6 ? Unwrap(info[0]) : nullptr;
  if (c == nullptr || !IsBytes(info[1]) || !IsBytes(info[2]) || !info[3].IsNumber() || !info[4].IsNumber() ||
      !info[5].IsNumber()) {
    return ThrowType(env, "seal(handle, nonce: Uint8Array(12), buf: Uint8Array, offset, aadLength, plaintextLength)");
  }
  if (c->ctx == nullptr || c->encrypt != 1) return ThrowType(env, "seal: handle is destroyed or made for opening");
  Napi::Uint8Array nonce = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array buf = info[2].As<Napi::Uint8Array>();
  const int64_t offset = info[3].As<Napi::Number>().Int64Value();
  const int64_t aadLen = info[4].As<Napi::Number>().Int64Value();
  const int64_t ptLen = info[5].As<Napi::Number>().Int64Value();
  if (nonce.ByteLength() != kNonceBytes) return ThrowType(env, "seal: nonce must be 12 bytes");
  if (offset < 0 || aadLen < 0 || ptLen < 0 || static_cast<uint64_t>(aadLen) > kMaxLength ||
      static_cast<uint64_t>(ptLen) > kMaxLength ||
      static_cast<uint64_t>(offset) + aadLen + ptLen + kTagBytes > buf.ByteLength()) {
    return ThrowType(env, "seal: offset + aadLength + plaintextLength + 16 exceeds buf");
  }
  EVP_CIPHER_CTX* ctx = c->ctx;
  uint8_t* aad = buf.Data() + offset;
  uint8_t* pt = aad + aadLen;
  int n = 0;
  bool ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce.Data(), 1) == 1;
  if (ok && aadLen > 0) ok = EVP_CipherUpdate(ctx, nullptr, &n, aad, static_cast<int>(aadLen)) == 1;
  int written = 0;
  if (ok && ptLen > 0) ok = EVP_CipherUpdate(ctx, pt, &written, pt, static_cast<int>(ptLen)) == 1;
  // Stream modes emit every byte in update; final only computes the tag.
  if (ok) ok = EVP_CipherFinal_ex(ctx, pt + written, &n) == 1 && written + n == ptLen;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), pt + ptLen) == 1;
  return Napi::Boolean::New(env, ok);
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AeadContext* c = info.Length() >= 5 ? Unwrap(info[0]) : nullptr;
  if (c == nullptr || !IsBytes(info[1]) || !IsBytes(info[2]) || !IsBytes(info[3]) || !IsBytes(info[4])) {
    return ThrowType(env, "open(handle, nonce: Uint8Array(12), aad: Uint8Array, sealed: Uint8Array, out: Uint8Array)");
  }
  if (c->ctx == nullptr || c->encrypt != 0) return ThrowType(env, "open: handle is destroyed or made for sealing");
  Napi::Uint8Array nonce = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array aad = info[2].As<Napi::Uint8Array>();
  Napi::Uint8Array sealed = info[3].As<Napi::Uint8Array>();
  Napi::Uint8Array out = info[4].As<Napi::Uint8Array>();
  if (nonce.ByteLength() != kNonceBytes) return ThrowType(env, "open: nonce must be 12 bytes");
  const size_t sealedLen = sealed.ByteLength();
  // Network input: a short frame is an authentication failure, not an exception.
  if (sealedLen < kTagBytes || sealedLen > kMaxLength || aad.ByteLength() > kMaxLength) return Napi::Number::New(env, -1);
  const size_t ctLen = sealedLen - kTagBytes;
  if (out.ByteLength() < ctLen) return ThrowType(env, "open: out is shorter than the ciphertext");
  EVP_CIPHER_CTX* ctx = c->ctx;
  uint8_t* dst = out.Data();
  const uint8_t* ct = sealed.Data();
  // The tag is copied out first: out may alias sealed (decryption in place).
  uint8_t tag[kTagBytes];
  memcpy(tag, ct + ctLen, kTagBytes);
  int n = 0;
  int written = 0;
  bool ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce.Data(), 0) == 1;
  if (ok && aad.ByteLength() > 0) ok = EVP_CipherUpdate(ctx, nullptr, &n, aad.Data(), static_cast<int>(aad.ByteLength())) == 1;
  if (ok && ctLen > 0) ok = EVP_CipherUpdate(ctx, dst, &written, ct, static_cast<int>(ctLen)) == 1;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes), tag) == 1;
  if (ok) ok = EVP_CipherFinal_ex(ctx, dst + written, &n) == 1 && static_cast<size_t>(written + n) == ctLen;
  if (!ok) {
    // Never leave unauthenticated plaintext behind.
    if (ctLen > 0) memset(dst, 0, ctLen);
    return Napi::Number::New(env, -1);
  }
  return Napi::Number::New(env, static_cast<double>(ctLen));
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AeadContext* c = info.Length() >= 1 ? Unwrap(info[0]) : nullptr;
  if (c == nullptr) return ThrowType(env, "destroy(handle)");
  FreeContext(c);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("create", Napi::Function::New(env, Create, "create"));
  exports.Set("seal", Napi::Function::New(env, Seal, "seal"));
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("destroy", Napi::Function::New(env, Destroy, "destroy"));
  return exports;
}

}  // namespace

NODE_API_MODULE(shadowmesh_aead, Init)
