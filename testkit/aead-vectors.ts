/**
 * Known-answer vectors for the data-plane AEADs, shared by test/crypto/aead.test.ts
 * (node:crypto) and test/crypto/native-aead.test.ts (the context addon), so
 * both implementations answer to the same published values.
 */
import { toHex, utf8 } from '../src/crypto/bytes.js';
import type { AeadAlgorithm } from '../src/crypto/aead.js';

export interface AeadKat { name: string; alg: AeadAlgorithm; key: string; nonce: string; aad: string; pt: string; ct: string; tag: string }

// Known-answer vectors, typed in from the published documents (test/vectors/SOURCES.md).
export const AEAD_KATS: readonly AeadKat[] = [
  {
    name: 'RFC 8439 §2.8.2 ChaCha20-Poly1305',
    alg: 'chacha20-poly1305',
    key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
    nonce: '070000004041424344454647',
    aad: '50515253c0c1c2c3c4c5c6c7',
    pt: toHex(
      utf8(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      ),
    ),
    ct:
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
      '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
      '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116',
    tag: '1ae10b594f09e26a7e902ecbd0600691',
  },
  {
    name: 'McGrew-Viega GCM test case 13 (AES-256, empty)',
    alg: 'aes-256-gcm',
    key: '00'.repeat(32),
    nonce: '00'.repeat(12),
    aad: '',
    pt: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'McGrew-Viega GCM test case 14 (AES-256, one zero block)',
    alg: 'aes-256-gcm',
    key: '00'.repeat(32),
    nonce: '00'.repeat(12),
    aad: '',
    pt: '00'.repeat(16),
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'McGrew-Viega GCM test case 16 (AES-256, AAD, 60-byte plaintext)',
    alg: 'aes-256-gcm',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
    nonce: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    pt:
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
      '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ct:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
      '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];
