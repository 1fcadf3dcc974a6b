/**
 * Every number of the ShadowMesh wire protocol (docs/protocol.md, version 1).
 *
 * The codecs in this folder read all their sizes, offsets and type numbers
 * from here; nothing else in src/wire hard-codes a protocol number.
 *
 * The hybrid sizes below deliberately duplicate src/crypto's constants:
 * src/wire imports nothing of ours except src/errors.ts (docs/architecture.md "The dependency rule"), and a
 * test (test/wire/constants.test.ts) checks that both copies agree.
 *
 * Version history (bump PROTOCOL_VERSION only for an incompatible change,
 * and add a dated line saying why):
 *   2026-11-22  v1  first version: relay link frames 0x01..0x0b, peer
 *                   frames 0x21..0x24, little-endian, no extensible frames.
 *   2026-11-22  v1  (compatible extension, no bump) member presence:
 *                   PEER_UP 0x0c and PEER_DOWN 0x0d, relay -> node, so
 *                   nodes learn who is online to route L3 packets and
 *                   flood L2 broadcasts. Only new relays send them, only
 *                   after ESTABLISHED; an older node drops them as
 *                   unknown frames without losing the link.
 *   2026-11-22  v1  (compatible extension, no bump) direct paths
 *                   (protocol.md §3): path frames 0x25..0x29 that travel
 *                   only on a direct WSS path, never through a relay, and
 *                   the PATH_OFFER inner type 0x06 inside sessions. A node
 *                   without direct paths never receives path frames, and
 *                   drops an unknown inner type as before.
 *   2026-11-22  v1  (compatible extension, no bump) chat: the CHAT inner
 *                   type 0x07 inside sessions, carrying a versioned chat
 *                   envelope (src/messaging/chat-envelope.ts, protocol.md
 *                   §4). An older node drops it as an unknown inner type.
 *   2026-11-22  v1  (compatible extension, no bump) UDP direct paths
 *                   (protocol.md §3.5): UDP_PROBE 0x2a, UDP_PROBE_ACK 0x2b
 *                   and UDP_FRAGMENT 0x2c travel only in UDP datagrams
 *                   between nodes; PATH_OFFER version 2 tags every
 *                   candidate with its transport (a v1 offer is still
 *                   read: all its candidates are WSS listeners).
 *   2026-12-04  v1  (compatible extension, no bump) handshake cookies
 *                   (handshake.md §6): HS_COOKIE 0x2d, a peer frame a
 *                   responder under load sends instead of HS_RESP, and an
 *                   optional 16-byte cookie after an HS_INIT's certificate.
 *                   Only a node that received HS_COOKIE sends an INIT with
 *                   a cookie, so an older responder never sees one; an
 *                   older initiator drops HS_COOKIE as an unknown frame
 *                   and gets in only while the responder is not loaded.
 *   2026-12-06  v1  (compatible extension, no bump) network policy from
 *                   the relay: POLICY 0x0e, relay -> node, carries the
 *                   CA-signed policy blob the relay's operator gave it.
 *                   Only a relay given a policy sends it, only after
 *                   ESTABLISHED; an older node drops it as an unknown
 *                   frame (its WebSocket limit may also close the link on
 *                   a blob over MAX_FRAME_BYTES: give such a relay a policy
 *                   only once its members are updated).
 *   2026-12-06  v1  (compatible extension, no bump) presence without
 *                   certificates (protocol.md §1 "Presence"): PRESENCE
 *                   0x0f (relay -> node, batched ups and downs carrying a
 *                   certificate's SHA-256, not the certificate), and the
 *                   pair CERT_REQUEST 0x10 (node -> relay) / CERT 0x11
 *                   (relay -> node) to fetch a certificate on demand. A
 *                   PEER_UP carried every certificate to every member,
 *                   O(members²) bytes per relay; a node still reads
 *                   PEER_UP / PEER_DOWN from an older relay, and an older
 *                   node drops the new frames as unknown, keeping the link.
 *   2026-12-06  v1  (compatible extension, no bump) streams (protocol.md
 *                   §6): the STREAM inner type 0x08 inside sessions, which
 *                   carries TCP streams of the SOCKS5 proxy and port
 *                   forwards. An older node drops it as an unknown inner
 *                   type; the opener then times out the stream.
 */

/** The only version byte a v1 decoder accepts (docs/protocol.md header). */
export const PROTOCOL_VERSION = 1;

/** Common header: version u8 | type u8 | reserved u16 (must be zero). */
export const HEADER_BYTES = 4;
/** Offset of the version byte inside the common header. */
export const HEADER_VERSION_OFFSET = 0;
/** Offset of the type byte inside the common header. */
export const HEADER_TYPE_OFFSET = 1;
/** Offset of the two reserved bytes inside the common header. */
export const HEADER_RESERVED_OFFSET = 2;

/** Frame type byte. 0x01..0x11 are relay link frames (protocol.md §1),
 *  0x21..0x24 and 0x2d are end-to-end peer frames (protocol.md §2). */
export const FrameType = {
  Hello: 0x01,
  Challenge: 0x02,
  Auth: 0x03,
  Established: 0x04,
  Error: 0x05,
  Ping: 0x06,
  Pong: 0x07,
  Send: 0x08,
  Deliver: 0x09,
  Close: 0x0a,
  Unreachable: 0x0b,
  PeerUp: 0x0c,
  PeerDown: 0x0d,
  Policy: 0x0e,
  Presence: 0x0f,
  CertRequest: 0x10,
  Cert: 0x11,
  HsInit: 0x21,
  HsResp: 0x22,
  HsFinish: 0x23,
  Data: 0x24,
  HsCookie: 0x2d,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Relay link frame types (protocol.md §1). */
export type RelayFrameType =
  | typeof FrameType.Hello
  | typeof FrameType.Challenge
  | typeof FrameType.Auth
  | typeof FrameType.Established
  | typeof FrameType.Error
  | typeof FrameType.Ping
  | typeof FrameType.Pong
  | typeof FrameType.Send
  | typeof FrameType.Deliver
  | typeof FrameType.Close
  | typeof FrameType.Unreachable
  | typeof FrameType.PeerUp
  | typeof FrameType.PeerDown
  | typeof FrameType.Policy
  | typeof FrameType.Presence
  | typeof FrameType.CertRequest
  | typeof FrameType.Cert;

/** End-to-end peer frame types (protocol.md §2). */
export type PeerFrameType =
  | typeof FrameType.HsInit
  | typeof FrameType.HsResp
  | typeof FrameType.HsFinish
  | typeof FrameType.Data
  | typeof FrameType.HsCookie;

/**
 * First byte of a DATA plaintext (protocol.md §2, inner types).
 * DeviceFrame: a virtio-net header and an Ethernet (TAP) or IP (TUN) packet or GSO segment.
 * MeshPing / MeshPong: a u64 id (LE) and echo data, for `shadowmesh ping` over the session.
 * Chat: a chat envelope (protocol.md §4, src/messaging/chat-envelope.ts).
 * Stream: a stream frame (protocol.md §6, src/wire/stream-frames.ts).
 */
export const InnerType = { Payload: 0x01, Keepalive: 0x02, DeviceFrame: 0x03, MeshPing: 0x04, MeshPong: 0x05, PathOffer: 0x06, Chat: 0x07, Stream: 0x08 } as const;
export type InnerType = (typeof InnerType)[keyof typeof InnerType];

/** Inner types that carry data (everything but the empty KEEPALIVE). PATH_OFFER
 *  (protocol.md §3) and CHAT (§4) count: they must reach the peer end to end like any message. */
export function isDataInnerType(t: number): boolean {
  return (
    t === InnerType.Payload ||
    t === InnerType.DeviceFrame ||
    t === InnerType.MeshPing ||
    t === InnerType.MeshPong ||
    t === InnerType.PathOffer ||
    t === InnerType.Chat ||
    t === InnerType.Stream
  );
}

/** u16 codes carried by relay ERROR and CLOSE frames (protocol.md §1).
 *  Decoders accept any u16 so a newer relay's code is not a decode error;
 *  receivers treat an unknown code like Protocol. */
export const RelayErrorCode = {
  Protocol: 1,
  NotMember: 2,
  CertValidity: 3,
  Revoked: 4,
  BadSignature: 5,
  HandshakeTimeout: 6,
  RelayFull: 7,
  FrameTooLarge: 8,
  RateLimited: 9,
  Replaced: 10,
  ShuttingDown: 11,
  IdleTimeout: 12,
} as const;
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];

// ---- sizes of fixed fields -------------------------------------------------

/** A peer id: SHA-256 over both identity public keys. */
export const PEER_ID_BYTES = 32;
/** HELLO client nonce, CHALLENGE server nonce, HS_INIT nonce: 256 bits of freshness. */
export const NONCE_BYTES = 32;
/** Relay session id in ESTABLISHED: 128 bits, unguessable. */
export const SESSION_ID_BYTES = 16;
/** Hybrid signature: Ed25519 (64) ‖ ML-DSA-87 (4627). */
export const HYBRID_SIGNATURE_BYTES = 4691;
/** Hybrid KEM public key: X25519 (32) ‖ ML-KEM-1024 encapsulation key (1568). */
export const HYBRID_KEM_PUBLIC_BYTES = 1600;
/** Hybrid KEM ciphertext: X25519 ephemeral (32) ‖ ML-KEM-1024 ciphertext (1568). */
export const HYBRID_KEM_CIPHERTEXT_BYTES = 1600;
/** Poly1305 and GCM tags are both 16 bytes. */
export const AEAD_TAG_BYTES = 16;

// ---- limits ----------------------------------------------------------------

/** Largest member certificate in HELLO / HS_INIT / HS_RESP: a hybrid cert is
 *  about 7.2 KiB (two public keys and a hybrid signature), with headroom. */
export const MAX_CERT_BYTES = 8192;
/** Largest UTF-8 text (ERROR message, CLOSE reason): enough for a sentence,
 *  small enough that a hostile peer cannot make us log megabytes. */
export const MAX_TEXT_BYTES = 512;
/** Largest frame any decoder accepts: a 64 KiB segment plus room for headers.
 *  Relays may enforce a lower limit (ESTABLISHED.maxFrameBytes). */
export const MAX_FRAME_BYTES = 65536 + 256;
/** SEND / DELIVER prefix: header (4) + peer id (32). */
export const SEND_HEADER_BYTES = HEADER_BYTES + PEER_ID_BYTES;
/** Largest SEND / DELIVER payload, so the whole frame fits MAX_FRAME_BYTES. */
export const MAX_SEND_PAYLOAD_BYTES = MAX_FRAME_BYTES - SEND_HEADER_BYTES;
/** Largest peer frame: it must fit inside one SEND / DELIVER payload, so the
 *  same frame can travel on the relay or on a direct path. */
export const MAX_PEER_FRAME_BYTES = MAX_SEND_PAYLOAD_BYTES;

// ---- relay frame sizes (whole frames, header included) ---------------------

/** HELLO without the certificate: header + clientNonce + certLen u32. */
export const HELLO_FIXED_BYTES = HEADER_BYTES + NONCE_BYTES + 4;
/** CHALLENGE, exact: header + serverNonce + relayTimeMs u64. */
export const CHALLENGE_BYTES = HEADER_BYTES + NONCE_BYTES + 8;
/** AUTH, exact: header + hybrid signature. */
export const AUTH_BYTES = HEADER_BYTES + HYBRID_SIGNATURE_BYTES;
/** ESTABLISHED without the address: header + sessionId + heartbeatMs u32 +
 *  idleTimeoutMs u32 + maxFrameBytes u32 + observedPort u16 + family u8. */
export const ESTABLISHED_FIXED_BYTES = HEADER_BYTES + SESSION_ID_BYTES + 4 + 4 + 4 + 2 + 1;
/** Address family byte values in ESTABLISHED and their address sizes. */
export const ADDRESS_FAMILY_IPV4 = 4;
export const ADDRESS_FAMILY_IPV6 = 6;
export const IPV4_BYTES = 4;
export const IPV6_BYTES = 16;
/** ERROR / CLOSE without the text: header + code u16 + textLen u16. */
export const TEXT_FRAME_FIXED_BYTES = HEADER_BYTES + 2 + 2;
/** PING / PONG, exact: header + nonce u64. */
export const PING_BYTES = HEADER_BYTES + 8;
/** UNREACHABLE, exact: header + peer id. */
export const UNREACHABLE_BYTES = HEADER_BYTES + PEER_ID_BYTES;
/** PEER_UP without the certificate: header + onlineSinceMs u64 + certLen u32. */
export const PEER_UP_FIXED_BYTES = HEADER_BYTES + 8 + 4;
/** PEER_DOWN, exact: header + peer id. */
export const PEER_DOWN_BYTES = HEADER_BYTES + PEER_ID_BYTES;
/** Largest signed policy blob: the policy layer's MAX_SIGNED_POLICY_BYTES
 *  (src/policy/signed-policy.ts: 56 fixed bytes, 256 KiB of text, a hybrid
 *  signature), copied here as src/wire imports nothing of ours; a test
 *  (test/wire/constants.test.ts) checks that both copies agree. A member
 *  refuses a larger blob before any allocation or verification. */
export const MAX_POLICY_BLOB_BYTES = 56 + 256 * 1024 + HYBRID_SIGNATURE_BYTES;
/** POLICY without the blob: header + blobLen u32. */
export const POLICY_FIXED_BYTES = HEADER_BYTES + 4;
/** Largest POLICY frame: the only relay frame allowed above MAX_FRAME_BYTES
 *  (a whole policy in one frame, so a member never holds a partial blob). */
export const MAX_POLICY_FRAME_BYTES = POLICY_FIXED_BYTES + MAX_POLICY_BLOB_BYTES;
/** SHA-256 of a member certificate's exact bytes, as PRESENCE announces it. */
export const CERT_DIGEST_BYTES = 32;
/** PRESENCE entry kinds (the first byte of each entry). */
export const PresenceKind = { Down: 0, Up: 1 } as const;
export type PresenceKind = (typeof PresenceKind)[keyof typeof PresenceKind];
/** PRESENCE without entries: header + count u16. */
export const PRESENCE_FIXED_BYTES = HEADER_BYTES + 2;
/** One PRESENCE up entry: kind u8 + peerId + certDigest + onlineSinceMs u64. */
export const PRESENCE_UP_ENTRY_BYTES = 1 + PEER_ID_BYTES + CERT_DIGEST_BYTES + 8;
/** One PRESENCE down entry: kind u8 + peerId. */
export const PRESENCE_DOWN_ENTRY_BYTES = 1 + PEER_ID_BYTES;
/** Entries in one PRESENCE frame: 800 ups are 58,406 bytes, inside
 *  MAX_FRAME_BYTES (65,792) that every receiver accepts, and a receiver's
 *  work per frame stays bounded; a larger change set goes out as several
 *  frames. (A test checks 800 ups fit.) */
export const MAX_PRESENCE_ENTRIES = 800;
/** CERT_REQUEST, exact: header + peerId. */
export const CERT_REQUEST_BYTES = HEADER_BYTES + PEER_ID_BYTES;
/** CERT without the certificate: header + peerId + certLen u32. */
export const CERT_FIXED_BYTES = HEADER_BYTES + PEER_ID_BYTES + 4;

// ---- peer frame sizes (whole frames, header included) ----------------------

/** HS_INIT without the certificate: header + senderIndex u32 + timestampMs u64
 *  + nonce + kemPublic + certLen u32. */
export const HS_INIT_FIXED_BYTES = HEADER_BYTES + 4 + 8 + NONCE_BYTES + HYBRID_KEM_PUBLIC_BYTES + 4;
/** HS_RESP without the certificate: header + senderIndex u32 + receiverIndex
 *  u32 + kemCiphertext + certLen u32 + signature. */
export const HS_RESP_FIXED_BYTES =
  HEADER_BYTES + 4 + 4 + HYBRID_KEM_CIPHERTEXT_BYTES + 4 + HYBRID_SIGNATURE_BYTES;
/** HS_FINISH, exact: header + receiverIndex u32 + signature. */
export const HS_FINISH_BYTES = HEADER_BYTES + 4 + HYBRID_SIGNATURE_BYTES;
/** Handshake cookie (handshake.md §6): a truncated HMAC-SHA-256, 128 bits as AEAD tags. */
export const HS_COOKIE_MAC_BYTES = 16;
/** HS_COOKIE, exact: header + receiverIndex u32 + cookie (24). */
export const HS_COOKIE_BYTES = HEADER_BYTES + 4 + HS_COOKIE_MAC_BYTES;
/** DATA header (the AEAD associated data): header + receiverIndex u32 + counter u64. */
export const DATA_HEADER_BYTES = 16;
/** Offset of receiverIndex inside a DATA frame. */
export const DATA_RECEIVER_INDEX_OFFSET = 4;
/** Offset of the u64 counter inside a DATA frame; the sealer writes it. */
export const DATA_COUNTER_OFFSET = 8;
/** Smallest DATA frame: header and an empty ciphertext with its tag. */
export const DATA_MIN_BYTES = DATA_HEADER_BYTES + AEAD_TAG_BYTES;

// ---- integer ranges ---------------------------------------------------------

/** Largest u16 / u32 / u64 value. */
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffff_ffff;
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

// ---- direct path frames (protocol.md §3) -----------------------------------
//
// These frame types travel only on a direct WSS path, beside the peer frames
// of §2; a relay never carries them. PATH_REQUEST / RESPONSE / COMPLETE are
// the re-handshake (src/handshake/path-auth.ts); PATH_PROBE / PROBE_ACK are
// the path manager's liveness probes.

/** Direct-path frame types. Kept out of FrameType so that relay and peer
 *  decoders keep refusing them (SM_ERR_WIRE_TYPE) where they do not belong. */
export const PathFrameType = {
  PathRequest: 0x25,
  PathResponse: 0x26,
  PathComplete: 0x27,
  PathProbe: 0x28,
  PathProbeAck: 0x29,
} as const;
export type PathFrameType = (typeof PathFrameType)[keyof typeof PathFrameType];

/** Path session id: the first 16 bytes of HMAC(pathAuthKey, label); names the session without revealing the key. */
export const PATH_SESSION_ID_BYTES = 16;
/** Re-handshake challenges: 256 bits, never repeated. */
export const PATH_CHALLENGE_BYTES = 32;
/** HMAC-SHA-256 output. */
export const PATH_MAC_BYTES = 32;
/** PATH_REQUEST, exact: header + sessionId + challenge + timestampMs u64 (60). */
export const PATH_REQUEST_BYTES = HEADER_BYTES + PATH_SESSION_ID_BYTES + PATH_CHALLENGE_BYTES + 8;
/** PATH_RESPONSE, exact: header + sessionId + challenge2 + timestampMs u64 + mac (92). */
export const PATH_RESPONSE_BYTES = HEADER_BYTES + PATH_SESSION_ID_BYTES + PATH_CHALLENGE_BYTES + 8 + PATH_MAC_BYTES;
/** PATH_COMPLETE, exact: header + mac (36). */
export const PATH_COMPLETE_BYTES = HEADER_BYTES + PATH_MAC_BYTES;
/** PATH_PROBE / PATH_PROBE_ACK, exact: header + id u64 + sentAtMs u64 (20). */
export const PATH_PROBE_BYTES = HEADER_BYTES + 8 + 8;

// ---- UDP direct paths (protocol.md §3.5) --------------------------------------
//
// Datagrams between two nodes carry either one whole peer frame (0x21..0x24),
// a fragment of a larger one, or an authenticated UDP probe. They never reach
// a relay, and the WSS path never carries them.

export const UdpFrameType = {
  UdpProbe: 0x2a,
  UdpProbeAck: 0x2b,
  UdpFragment: 0x2c,
} as const;
export type UdpFrameType = (typeof UdpFrameType)[keyof typeof UdpFrameType];

/** What a UDP probe is for. */
export const UdpProbePurpose = {
  /** Hole punching: find which candidate answers (protocol.md §3.5.2). */
  Punch: 1,
  /** Carries a PATH_PROBE / PATH_PROBE_ACK of the path manager (liveness, RTT). */
  Liveness: 2,
  /** Path MTU probe: padded to the size under test. */
  Mtu: 3,
  /** The sender closed its end of this path: close yours now rather than at the probe timeout. */
  Close: 4,
} as const;
export type UdpProbePurpose = (typeof UdpProbePurpose)[keyof typeof UdpProbePurpose];

/** Random transaction id of a UDP probe; an ACK echoes it. 128 bits: never guessed, never repeated. */
export const UDP_TXID_BYTES = 16;
/** Truncated HMAC-SHA-256 on UDP probes: 128 bits, as AEAD tags. */
export const UDP_PROBE_MAC_BYTES = 16;
/** UDP_PROBE / ACK before the embedded frame and padding: header + purpose u8 + embedded
 *  length u8 + padding length u16 + senderPeerId + txid + timestampMs u64 (64). */
export const UDP_PROBE_FIXED_BYTES = HEADER_BYTES + 1 + 1 + 2 + PEER_ID_BYTES + UDP_TXID_BYTES + 8;
/** Smallest UDP probe: no embedded frame, no padding (80). */
export const MIN_UDP_PROBE_BYTES = UDP_PROBE_FIXED_BYTES + UDP_PROBE_MAC_BYTES;
/** Largest frame a probe may embed: a PATH_PROBE / PATH_PROBE_ACK. */
export const MAX_UDP_PROBE_EMBED_BYTES = PATH_PROBE_BYTES;
/** Largest UDP datagram payload we ever send or accept as a probe (IPv4 with a 1500-byte MTU: 1500 - 20 - 8). */
export const MAX_UDP_DATAGRAM_BYTES = 1472;
/** UDP_FRAGMENT header: header + frameId u32 + index u8 + count u8 + reserved u16 (12). */
export const UDP_FRAGMENT_HEADER_BYTES = HEADER_BYTES + 4 + 1 + 1 + 2;
/** Most fragments of one frame: a MAX_FRAME_BYTES frame at the smallest fragment size fits. */
export const MAX_UDP_FRAGMENTS = 255;

// ---- PATH_OFFER (inner type 0x06, protocol.md §3) ---------------------------

/** PATH_OFFER body format version written; version 1 (no transport tags) is still read. */
export const PATH_OFFER_VERSION = 2;
/** The first PATH_OFFER layout: every candidate a WSS listener. */
export const PATH_OFFER_VERSION_1 = 1;
/** Candidate transport tags of PATH_OFFER v2. */
export const PathTransportTag = { Wss: 1, Udp: 2 } as const;
/** Candidate flag: the address is reflexive (seen by a relay or STUN server), not a local interface. */
export const PATH_CANDIDATE_FLAG_REFLEXIVE = 0x01;
/** Fingerprint of an ephemeral TLS certificate: SHA-256 of its SPKI DER. */
export const PATH_FINGERPRINT_BYTES = 32;
/** Most candidates in one offer: every interface address of a busy host plus
 *  the reflexive one fit; more only means more parallel dials for the peer. */
export const MAX_PATH_CANDIDATES = 32;
/** PATH_OFFER before the candidates: version u8 + reserved u8 + peerId +
 *  timestampMs u64 + fingerprint + candidate count u8 (75). */
export const PATH_OFFER_FIXED_BYTES = 1 + 1 + PEER_ID_BYTES + 8 + PATH_FINGERPRINT_BYTES + 1;
/** Largest PATH_OFFER: fixed part + IPv6 candidates (v2: transport + flags + family + 16 + port u16) + signature. */
export const MAX_PATH_OFFER_BYTES = PATH_OFFER_FIXED_BYTES + MAX_PATH_CANDIDATES * (2 + 1 + IPV6_BYTES + 2) + HYBRID_SIGNATURE_BYTES;

// ---- STREAM (inner type 0x08, protocol.md §6) --------------------------------

/** Stream frame kinds (the first body byte after the inner type). */
export const StreamFrameKind = { Open: 0x01, Accept: 0x02, Refuse: 0x03, Data: 0x04, Fin: 0x05, Ack: 0x06, Reset: 0x07 } as const;
export type StreamFrameKind = (typeof StreamFrameKind)[keyof typeof StreamFrameKind];
/** Flag bit: the sender of this frame is the stream's opener. Stream ids are
 *  chosen by the opener, so each side's ids form their own space (as QUIC's
 *  initiator bit): both members may open stream 1 to each other. */
export const STREAM_FLAG_OPENER = 0x01;
/** Every stream frame starts with kind u8 + flags u8 + streamId u32 (6). */
export const STREAM_HEADER_BYTES = 1 + 1 + 4;
/** Largest DATA payload: 16 KiB keeps a frame far below MAX_PEER_FRAME_BYTES,
 *  and small enough that a lost UDP fragment costs little to resend. */
export const MAX_STREAM_CHUNK_BYTES = 16 * 1024;
/** Largest window a side may grant (u32 on the wire; 16 MiB bounds what one stream makes a receiver hold). */
export const MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
/** Largest stream offset: JavaScript numbers are exact below 2^53. */
export const MAX_STREAM_OFFSET = Number.MAX_SAFE_INTEGER;
/** REFUSE and RESET reason codes (protocol.md §6). A receiver treats an unknown code like Protocol. */
export const StreamReason = {
  /** The destination is not the acceptor's mesh address nor inside a route it serves. */
  NotServed: 1,
  /** The acceptor's network policy does not allow the connection. */
  Policy: 2,
  /** The destination refused the TCP connection. */
  ConnectRefused: 3,
  /** The destination could not be reached (timeout, no route). */
  Unreachable: 4,
  /** The acceptor holds its most streams for this peer (or in all). */
  Busy: 5,
  /** A frame broke the stream rules (credit exceeded, wrong kind for the state). */
  Protocol: 6,
  /** A local end closed abruptly (socket error, the proxy client left). */
  Aborted: 7,
  /** No progress for the stream timeout. */
  Timeout: 8,
  /** The receiver has no such stream (it ended, or the node restarted). */
  Unknown: 9,
  /** The acceptor does not serve streams (no stream layer configured). */
  Disabled: 10,
} as const;
export type StreamReason = (typeof StreamReason)[keyof typeof StreamReason];
