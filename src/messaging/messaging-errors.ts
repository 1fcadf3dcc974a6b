/**
 * Stable error codes thrown by messaging (docs/conventions.md §9), always
 * as ChatError. A code, once shipped, is never reused for another meaning.
 */

export const ChatCode = Object.freeze({
  /** An envelope that does not decode (length, reserved bits, UTF-8, seq for its kind). */
  MALFORMED: 'SM_ERR_CHAT_MALFORMED',
  /** Another envelope version. */
  VERSION: 'SM_ERR_CHAT_VERSION',
  /** An unknown envelope kind. */
  KIND: 'SM_ERR_CHAT_KIND',
  /** Text over MAX_CHAT_TEXT_BYTES (or a reason over MAX_CHAT_REASON_BYTES). */
  TOO_LARGE: 'SM_ERR_CHAT_TOO_LARGE',
  /** The member is not in the directory (not online at the relay). */
  OFFLINE: 'SM_ERR_CHAT_OFFLINE',
  /** No conversation with that id (never existed here, or forgotten). */
  UNKNOWN_CONVERSATION: 'SM_ERR_CHAT_UNKNOWN_CONVERSATION',
  /** The conversation was terminated (by either side, or after undeliverable messages). */
  TERMINATED: 'SM_ERR_CHAT_TERMINATED',
  /** The member declined the chat request. */
  DECLINED: 'SM_ERR_CHAT_DECLINED',
  /** An operation that needs another state (respond to a request that is not pending, send before accepting). */
  STATE: 'SM_ERR_CHAT_STATE',
  /** Too many unacknowledged messages or conversations: try again after acks arrive. */
  BUSY: 'SM_ERR_CHAT_BUSY',
  /** A chat with ourselves. */
  SELF: 'SM_ERR_CHAT_SELF',
  /** Waited too long for an ack or an answer; the message stays queued for retry. */
  TIMEOUT: 'SM_ERR_CHAT_TIMEOUT',
  /** The chat service stopped. */
  STOPPED: 'SM_ERR_CHAT_STOPPED',
} as const);
export type ChatCode = (typeof ChatCode)[keyof typeof ChatCode];
