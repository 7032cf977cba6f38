/**
 * Kong's `ssl_cert` and `ssl_cert_key` from KONG_SSL_CERT and KONG_SSL_CERT_KEY: the certificate a
 * Kong deployment gives its ssl proxy listeners (a Helm chart's or Compose file's secret). Read as
 * Kong's conf_loader reads them (kong/conf_loader/parse.lua): a comma-separated list, each entry a
 * file path, PEM text or base64 of PEM, the n-th key for the n-th certificate (an RSA and an ECDSA
 * pair, say). Read once at start, as Kong reads kong.conf.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { KongDefaultCertificate } from '../tls.ts';

/** Larger than any certificate chain or key file; a path to something else is not read whole. */
const MAX_PEM_FILE = 1024 * 1024;

/** The entry's PEM text (empty for a file past MAX_PEM_FILE) and whether it came from a file. */
function pemOf(entry: string): { text: string; file: boolean } {
  let size = -1;
  try {
    const st = statSync(entry);
    if (st.isFile()) size = st.size;
  } catch {
    // Not a path: the value itself.
  }
  if (size >= 0) {
    if (size > MAX_PEM_FILE) return { text: '', file: true };
    try {
      return { text: readFileSync(entry, 'utf8'), file: true };
    } catch {
      // Unreadable (permissions): "failed loading ... from <path>", not a stack trace.
      return { text: '', file: true };
    }
  }
  // Kong's try_decode_base64: base64 that decodes is the PEM; anything else is taken as written.
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(entry) && entry.length % 4 === 0)
    return { text: Buffer.from(entry, 'base64').toString('utf8'), file: false };
  return { text: entry, file: false };
}

/**
 * How a message names an entry: a path as written (Kong names the value), anything else as "the
 * variable" (PEM or base64 of a key, never shown; base64 of PEM starts with `LS0t`, never `/`).
 */
function named(entry: string, file: boolean): string {
  return file || entry.startsWith('/') || entry.startsWith('./') || entry.startsWith('../') ? entry : 'the variable';
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The pairs of KONG_SSL_CERT / KONG_SSL_CERT_KEY, undefined when neither is set, or why they cannot
 * serve (Kong's conf_loader messages, naming the variable; a path is named, a key's text never).
 */
export function readKongSslCert(
  certValue: string | undefined,
  keyValue: string | undefined,
): KongDefaultCertificate | undefined | string {
  const certs = list(certValue);
  const keys = list(keyValue);
  if (certs.length === 0 && keys.length === 0) return undefined;
  if (keys.length === 0) return 'KONG_SSL_CERT_KEY must be specified (Kong: ssl_cert_key must be specified)';
  if (certs.length === 0) return 'KONG_SSL_CERT must be specified (Kong: ssl_cert must be specified)';
  if (certs.length !== keys.length)
    return `KONG_SSL_CERT was specified ${certs.length} times while KONG_SSL_CERT_KEY was specified ${keys.length} times`;
  const cert: string[] = [];
  const key: string[] = [];
  const x509: X509Certificate[] = [];
  for (const entry of certs) {
    const pem = pemOf(entry);
    try {
      x509.push(new X509Certificate(pem.text));
    } catch {
      return `KONG_SSL_CERT: failed loading certificate from ${named(entry, pem.file)}`;
    }
    cert.push(pem.text);
  }
  for (const [i, entry] of keys.entries()) {
    const pem = pemOf(entry);
    let pkey: KeyObject;
    try {
      pkey = createPrivateKey(pem.text);
    } catch {
      return `KONG_SSL_CERT_KEY: failed loading key from ${named(entry, pem.file)}`;
    }
    // nginx refuses the pair at start (SSL_CTX_use_PrivateKey: "key values mismatch"); OpenSSL
    // takes a key of another type than its certificate without a word and fails each handshake.
    if (!x509[i]!.checkPrivateKey(pkey))
      return `KONG_SSL_CERT and KONG_SSL_CERT_KEY cannot be served: key values mismatch (pair ${i + 1})`;
    key.push(pem.text);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    // Two pairs of one key type, say: OpenSSL keeps one certificate per type.
    return `KONG_SSL_CERT and KONG_SSL_CERT_KEY cannot be served: ${(err as Error).message}`;
  }
  return { cert, key };
}
