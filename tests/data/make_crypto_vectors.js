#!/usr/bin/env node
// Independent implementation of the pims-sync credential format (DESIGN.md "Credentials at rest"),
// written against Node's built-in crypto only, so tests/test_crypto.py can prove the Python side
// decrypts what another implementation produced.
//
//   key  = PBKDF2-HMAC-SHA256(secret, salt = key id UTF-8, 100000 iterations, 32 bytes)
//   blob = 12-byte IV || 16-byte GCM tag || ciphertext      (stored base64 here)
//
// Regenerate with:  node tests/data/make_crypto_vectors.js > tests/data/crypto_vectors.json
// (IVs are random, so the output changes on every run; every version is valid.)
// With --decrypt it reads {"secret", "key_id", "blob_b64"} on stdin and prints the plaintext,
// so the tests can check the other direction (Python encrypts, Node decrypts) too.
'use strict';
const crypto = require('crypto');

function encrypt(secret, keyId, plaintext) {
  const key = crypto.pbkdf2Sync(Buffer.from(secret, 'utf8'), Buffer.from(keyId, 'utf8'), 100000, 32, 'sha256');
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return Buffer.concat([iv, tag, ciphertext]).toString('base64');
}

function decrypt(secret, keyId, blobB64) {
  const key = crypto.pbkdf2Sync(Buffer.from(secret, 'utf8'), Buffer.from(keyId, 'utf8'), 100000, 32, 'sha256');
  const blob = Buffer.from(blobB64, 'base64');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  decipher.setAuthTag(blob.subarray(12, 28));
  return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
}

if (process.argv[2] === '--decrypt') {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  process.stdout.write(decrypt(input.secret, input.key_id, input.blob_b64));
  process.exit(0);
}

const cases = [
  { secret: 'test-encryption-key-0123456789abcdef', key_id: 'default', plaintext: 'dr.smith@clinic.example' },
  { secret: 'test-encryption-key-0123456789abcdef', key_id: 'default', plaintext: 'S3cret!pa$$word with spaces' },
  { secret: 'test-encryption-key-0123456789abcdef', key_id: 'default', plaintext: '' },
  { secret: 'test-encryption-key-0123456789abcdef', key_id: 'default', plaintext: 'Zoë — Tierklinik München 🐾 日本語' },
  { secret: 'rotation-key-2026-abcdefghijklmnopqrstuvwxyz', key_id: 'k2026', plaintext: 'COMPANY-00042' },
  { secret: 'another-secret-for-v2-keys-0000000000000000', key_id: 'v2', plaintext: '{"cookies":[{"name":"PHPSESSID","value":"abc"}]}' },
];

const vectors = cases.map((c) => ({ ...c, blob_b64: encrypt(c.secret, c.key_id, c.plaintext) }));
process.stdout.write(JSON.stringify({
  generator: 'tests/data/make_crypto_vectors.js (Node.js ' + process.version + ' crypto)',
  format: 'base64(iv[12] || tag[16] || ciphertext); key = pbkdf2_sha256(secret, key_id, 100000, 32)',
  vectors,
}, null, 2) + '\n');
