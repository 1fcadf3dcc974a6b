/**
 * Turns one DNS query (wire bytes) into what the responder does with it
 * (docs/configuration.md "Names"): an answer of ours, a forward to the
 * upstream resolvers, or a drop. Pure, no I/O; the wire codec is dns-packet.
 *
 *   NAME.<domain>  A / AAAA / ANY: the member's mesh addresses (AA, TTL
 *                  NAMES_TTL_S); another type: NOERROR without answers;
 *                  no such member: NXDOMAIN (no SOA, so nothing caches
 *                  the negative answer)
 *   <domain>       NOERROR without answers
 *   reverse name   of an address a member (or this node) holds: PTR
 *                  NAME.<domain>; any other reverse name is forwarded
 *   anything else  forwarded, bytes unchanged
 *
 * Drops (counted by the caller): `malformed` (the codec refuses it, or no
 * question), `not_query` (a response, or a query from a response port).
 * A query of another opcode, or with more than one question, is answered
 * NOTIMP / FORMERR. Answers over UDP fit the client's size: 512 bytes, or
 * its EDNS payload size (at most EDNS_PAYLOAD_BYTES); a larger answer is
 * sent empty with TC set, so the client retries over TCP.
 */
import { Buffer } from 'node:buffer';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import { formatIpAddress } from '../wire/ip-address.js';
import type { MemberNames } from './member-names.js';
import { addressOfReverseName } from './reverse-name.js';

/** TTL of our answers: short, so a member that leaves is forgotten by caches within seconds. */
export const NAMES_TTL_S = 5;
/** Classic UDP limit without EDNS (RFC 1035 §4.2.1). */
export const UDP_PLAIN_BYTES = 512;
/** Largest UDP answer we send under EDNS (the DNS flag day 2020 value, no fragmentation). */
export const EDNS_PAYLOAD_BYTES = 1232;

export const RCODE = Object.freeze({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 });

export type DropReason = 'malformed' | 'not_query';

export type Decision =
  | { kind: 'answer'; bytes: Uint8Array; rcode: number }
  | { kind: 'forward'; query: DecodedPacket }
  | { kind: 'drop'; reason: DropReason };

export interface AnswerContext {
  /** Normalized network domain (network-domain.ts). */
  domain: string;
  names: MemberNames;
  /** 'udp' answers are size-limited (TC); 'tcp' up to 65535 bytes. */
  transport: 'udp' | 'tcp';
}

const OPCODE_QUERY = 0;

/** Decides what to do with `bytes`; never throws. */
export function decide(bytes: Uint8Array, ctx: AnswerContext): Decision {
  let q: DecodedPacket;
  try {
    q = dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    return { kind: 'drop', reason: 'malformed' };
  }
  if (q.type !== 'query') return { kind: 'drop', reason: 'not_query' };
  const opcode = ((bytes[2] as number) >> 3) & 0xf;
  if (opcode !== OPCODE_QUERY) return reply(q, ctx, RCODE.NOTIMP, []);
  const questions = q.questions ?? [];
  if (questions.length === 0) return { kind: 'drop', reason: 'malformed' };
  if (questions.length > 1) return reply(q, ctx, RCODE.FORMERR, []);
  const question = questions[0] as Question;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const domain = ctx.domain;
  if (name === domain) return reply(q, ctx, RCODE.NOERROR, []);
  if (name.endsWith(`.${domain}`)) {
    const label = name.slice(0, -(domain.length + 1));
    const addresses = ctx.names.addressesOf(label);
    if (addresses === null) return reply(q, ctx, RCODE.NXDOMAIN, []);
    const cls = question.class ?? 'IN';
    if (cls !== 'IN' && cls !== 'ANY') return reply(q, ctx, RCODE.NOERROR, []);
    const type = question.type as string;
    const answers: Answer[] = [];
    for (const a of addresses) {
      if (a.family === 4 && (type === 'A' || type === 'ANY')) answers.push({ type: 'A', name: question.name, ttl: NAMES_TTL_S, class: 'IN', data: formatIpAddress(a.bytes) });
      if (a.family === 6 && (type === 'AAAA' || type === 'ANY')) answers.push({ type: 'AAAA', name: question.name, ttl: NAMES_TTL_S, class: 'IN', data: formatIpAddress(a.bytes) });
    }
    return reply(q, ctx, RCODE.NOERROR, answers);
  }
  const addr = addressOfReverseName(name);
  if (addr !== null) {
    const member = ctx.names.nameOf(addr);
    if (member !== null) {
      const type = question.type as string;
      const answers: Answer[] = type === 'PTR' || type === 'ANY' ? [{ type: 'PTR', name: question.name, ttl: NAMES_TTL_S, class: 'IN', data: `${member}.${domain}` }] : [];
      return reply(q, ctx, RCODE.NOERROR, answers);
    }
  }
  return { kind: 'forward', query: q };
}

/** The client's UDP size limit: 512, or its EDNS payload size within [512, EDNS_PAYLOAD_BYTES]. */
export function udpLimit(q: DecodedPacket): number {
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  if (opt === undefined) return UDP_PLAIN_BYTES;
  return Math.min(EDNS_PAYLOAD_BYTES, Math.max(UDP_PLAIN_BYTES, opt.udpPayloadSize ?? UDP_PLAIN_BYTES));
}

/** An answer to `q` with this rcode and these records (AA set; RD copied; RA set, as other names are forwarded). */
export function reply(q: DecodedPacket, ctx: Pick<AnswerContext, 'transport'>, rcode: number, answers: Answer[]): Decision {
  const edns = (q.additionals ?? []).some((a) => a.type === 'OPT');
  const base = (dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | (q.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | rcode) >>> 0;
  const packet: Packet = {
    type: 'response',
    id: q.id ?? 0,
    flags: base,
    questions: q.questions ?? [],
    answers,
    ...(edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_PAYLOAD_BYTES, flags: 0 } as Answer] } : {}),
  };
  let bytes: Buffer = dnsPacket.encode(packet);
  if (ctx.transport === 'udp' && bytes.length > udpLimit(q)) {
    bytes = dnsPacket.encode({ ...packet, flags: base | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
  }
  return { kind: 'answer', bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), rcode };
}
