/**
 * TLS entities: certificates (with their SNIs) and CA certificates, and the services' references
 * to them (`ca_certificates`, `client_certificate`).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { entityId } from '../ids.ts';
import type { CertificateModel } from '../model.ts';
import { checkHost } from '../paths.ts';
import { hasNullId, nullIds } from './null-ids.ts';
import {
  type Build,
  type Err,
  type Obj,
  orNull,
  type Path,
  type PendingCertificate,
  tags,
  type Warn,
} from './state.ts';

/**
 * Lifts `certificates` with their SNIs, checking each key pair. SNIs are nested under their
 * certificate (decK's shape) or top-level `snis` naming it (`kong config db_export`'s shape).
 */
export function liftCertificates(b: Build): void {
  b.each(b.doc.certificates, (raw, i) => {
    const path: Path = ['certificates', i];
    const model: CertificateModel = {
      id: '',
      cert: raw.cert,
      key: raw.key,
      cert_alt: orNull(raw.cert_alt),
      key_alt: orNull(raw.key_alt),
      snis: [],
      sni_entities: [],
      tags: tags(raw.tags),
      yaml_path: path,
    };
    const sniPaths: Path[] = [];
    b.each(raw.snis, (s, j) => addSni(b, s, [...path, 'snis', j], model, sniPaths));
    checkCertificate(raw, path, b.err, b.warn);
    b.certificates.push({ raw, path, model, sniPaths } satisfies PendingCertificate);
  });
  liftTopLevelSnis(b);
  const snis: { raw: Obj; path: Path }[] = [];
  for (const c of b.certificates)
    for (const [s, j] of b.entries(c.raw.snis)) snis.push({ raw: s, path: [...c.path, 'snis', j] });
  for (const [s, i] of b.entries(b.doc.snis)) snis.push({ raw: s, path: ['snis', i] });
  nullIds(b, 'snis', snis, 'its name');
}

function addSni(b: Build, raw: Obj, path: Path, cert: CertificateModel, sniPaths: Path[]): void {
  const name = String(raw.name).toLowerCase();
  const p = sniProblem(name);
  if (p) return b.err('SCHEMA', p, [...path, 'name']);
  cert.snis.push(name);
  // An SNI is an entity of its own in Kong, with the id and tags its entry gives it (decK dumps
  // write both; `?tags=` and `/tags/{tag}` find it by them). Without an id, one from its name.
  const id = typeof raw.id === 'string' ? raw.id.toLowerCase() : entityId('snis', name);
  cert.sni_entities.push({ id, tags: tags(raw.tags) });
  sniPaths.push(path);
}

/**
 * Kong's check of an SNI name (typedefs.wildcard_host), with its messages: at most one `*`, as the
 * first or last character (`*` alone is Kong's catch-all, the certificate for names no other SNI
 * matches), and otherwise a host name. A client never sends an IP address as its server name
 * (RFC 6066), so such an SNI would never select its certificate.
 */
export function sniProblem(name: string): string | null {
  let host = name;
  const star = name.indexOf('*');
  if (star !== -1) {
    if (star !== 0 && star !== name.length - 1) return 'wildcard must be leftmost or rightmost character';
    if (name.includes('*', star + 1)) return 'only one wildcard must be specified';
    // As Kong does: the rest must be a host name once the wildcard stands for a label.
    host = name.replace('*', 'wildcard');
  }
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host);
  const bare = m?.[1] ?? host;
  if (isIP(host) !== 0 || isIP(bare.replace(/^\[(.*)\]$/, '$1')) !== 0) return 'must not be an IP';
  if (m?.[2] !== undefined) return 'must not have a port';
  return checkHost(host, { wildcard: false, port: false }) === null ? null : `invalid value: ${host}`;
}

/** Top-level `snis`, each naming its certificate by id (a string, or `{ id }`), as Kong's do. */
function liftTopLevelSnis(b: Build): void {
  if (!Array.isArray(b.doc.snis)) return;
  const byId = new Map<string, PendingCertificate>();
  for (const c of b.certificates) if (typeof c.raw.id === 'string') byId.set(c.raw.id.toLowerCase(), c);
  b.each(b.doc.snis, (raw, i) => {
    const ref = raw.certificate;
    const id = typeof ref === 'object' && ref !== null ? (ref as Obj).id : ref;
    const refPath: Path = typeof ref === 'object' ? ['snis', i, 'certificate', 'id'] : ['snis', i, 'certificate'];
    const cert = byId.get(String(id).toLowerCase());
    if (cert === undefined)
      return b.err('REFERENCE', `invalid reference 'certificate: ${id}' (no such entry in 'certificates')`, refPath);
    addSni(b, raw, ['snis', i], cert.model, cert.sniPaths);
  });
}

function checkCertificate(raw: Obj, path: Path, err: Err, warn: Warn): void {
  const pair = (certField: string, keyField: string): X509Certificate | null => {
    let cert: X509Certificate | null = null;
    try {
      cert = new X509Certificate(raw[certField]);
    } catch {
      // Kong's typedefs.certificate and typedefs.key start their refusals with these words (then
      // OpenSSL's text, which names no cause a user can act on: the hint does).
      err(
        'SEMANTIC',
        `invalid certificate: ${certField} is not a valid PEM certificate${pemHint(raw[certField], false)}`,
        [...path, certField],
      );
    }
    let key: KeyObject | null = null;
    try {
      key = createPrivateKey(raw[keyField]);
    } catch {
      err('SEMANTIC', `invalid key: ${keyField} is not a valid PEM private key${pemHint(raw[keyField], true)}`, [
        ...path,
        keyField,
      ]);
    }
    // Kong's words (its certificates entity check), at the key the user may have got wrong.
    if (cert && key && !cert.checkPrivateKey(key)) {
      const which = certField === 'cert' ? 'certificate' : 'alternative certificate';
      err('SEMANTIC', `${which} does not match key`, [...path, keyField]);
    }
    // An expired certificate still serves (clients decide), but the operator should know.
    if (cert) certificateDates(cert, [...path, certField], warn);
    return cert;
  };
  const main = pair('cert', 'key');
  if ((raw.cert_alt === undefined) !== (raw.key_alt === undefined)) {
    err(
      'SCHEMA',
      "'cert_alt' and 'key_alt' must be given together",
      [...path, raw.cert_alt === undefined ? 'key_alt' : 'cert_alt'],
      true,
    );
  } else if (raw.cert_alt !== undefined) {
    const alt = pair('cert_alt', 'key_alt');
    // One context holds one pair per key type: a second pair of the same type replaces the first
    // (or OpenSSL refuses it with "key values mismatch"). Kong's certificates schema refuses it.
    const type = main?.publicKey.asymmetricKeyType;
    if (type !== undefined && type === alt?.publicKey.asymmetricKeyType)
      err(
        'SEMANTIC',
        'certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type',
        [...path, 'cert_alt'],
      );
  }
}

/**
 * Why a PEM did not load, when the text says (never quoting it: it may be a key). A YAML folded
 * block (`key: >`) or a one-line string turns the PEM's line breaks into spaces, which OpenSSL
 * refuses; an encrypted key needs a passphrase nobody gives.
 */
function pemHint(text: unknown, key: boolean): string {
  const pem = typeof text === 'string' ? text.trim() : '';
  if (key && /^-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m.test(pem))
    return ': it is encrypted (encrypted keys are not supported: decrypt it with `openssl pkey`)';
  if (/^-----BEGIN [A-Z0-9 ]+----- .*-----END /.test(pem) && !pem.includes('\n'))
    return ": its line breaks are lost (a YAML folded '>' block or a one-line string): write it as a literal block, '|'";
  return key ? ' (encrypted keys are not supported)' : '';
}

/** Warns about a certificate outside its validity period. */
function certificateDates(cert: X509Certificate, path: Path, warn: Warn): void {
  const now = Date.now();
  const to = Date.parse(cert.validTo);
  const from = Date.parse(cert.validFrom);
  if (to < now) warn('SEMANTIC', `certificate expired on ${new Date(to).toISOString()}; clients will refuse it`, path);
  else if (from > now)
    warn(
      'SEMANTIC',
      `certificate is not valid before ${new Date(from).toISOString()}; clients will refuse it until then`,
      path,
    );
}

/**
 * Resolves each service's `ca_certificates` (ids of `ca_certificates` entities, or PEM text) to PEMs,
 * and `client_certificate` (an id of `certificates`, or `{id}`) to the certificate's id.
 */
export function upstreamTls(b: Build): void {
  const { doc, services, err } = b;
  const each = b.each.bind(b);
  const certificates = b.certificates.map((c) => c.model);
  const cas = new Map<string, string>();
  const written: { raw: Obj; path: Path }[] = [];
  const nullCas = new Set<string>();
  each(doc.ca_certificates, (raw, i) => {
    const path: Path = ['ca_certificates', i];
    written.push({ raw, path });
    const id = typeof raw.id === 'string' ? raw.id.toLowerCase() : entityId('ca_certificates', `ca:${raw.cert}`);
    let cert: X509Certificate | null = null;
    // Kong's check: one certificate per entity. A bundle would be parsed for its first
    // certificate only, and the others trusted unchecked (not a CA, expired, ...).
    const begins = typeof raw.cert === 'string' ? raw.cert.split('-----BEGIN CERTIFICATE-----').length - 1 : 0;
    if (begins > 1)
      err(
        'SEMANTIC',
        `please submit only one certificate at a time (this one holds ${begins}): give each CA certificate its own ca_certificates entry, or put the bundle's PEM in the service's ca_certificates`,
        [...path, 'cert'],
      );
    else
      try {
        cert = new X509Certificate(raw.cert);
      } catch {
        err('SEMANTIC', `invalid certificate: cert is not a valid PEM certificate${pemHint(raw.cert, false)}`, [
          ...path,
          'cert',
        ]);
      }
    if (cert !== null && !cert.ca)
      err('SEMANTIC', 'certificate does not appear to be a CA because it is missing the "CA" basic constraint', [
        ...path,
        'cert',
      ]);
    else if (cert !== null && Date.parse(cert.validTo) < Date.now())
      // Kong's message (ca_certificates.lua), with the date and the way out.
      err(
        'SEMANTIC',
        `certificate expired, "Not After" time is in the past (${new Date(cert.validTo).toISOString()}): replace this CA certificate with a current one, or remove it`,
        [...path, 'cert'],
      );
    // Kong computes cert_digest (the hex SHA-256 of the DER) on insert; a file's value is ignored.
    const digest = cert?.fingerprint256.replaceAll(':', '').toLowerCase() ?? '';
    // Kong's two messages: an id given twice is its primary key; the same certificate twice
    // without ids (here the same derived id) is its unique cert_digest.
    // Two written `id: null` are one primary key to Kong, whatever their certificates (nullIds).
    if (cas.has(id) && !(hasNullId(raw) && nullCas.has(id)))
      err(
        'UNIQUENESS',
        typeof raw.id === 'string'
          ? `uniqueness violation: 'ca_certificates' entity with primary key set to '${id}' already declared`
          : `uniqueness violation: 'ca_certificates' entity with cert_digest set to '${digest}' already declared`,
        [...path, typeof raw.id === 'string' ? 'id' : 'cert'],
      );
    cas.set(id, raw.cert);
    if (hasNullId(raw)) nullCas.add(id);
    b.caCertificates.push({ id, cert: raw.cert, cert_digest: digest, tags: tags(raw.tags), yaml_path: path });
  });
  nullIds(b, 'ca_certificates', written, 'the certificate');
  const certIds = new Set(certificates.map((c) => c.id));
  for (const s of services) {
    const list = s.raw.ca_certificates;
    if (Array.isArray(list)) {
      const pems: string[] = [];
      s.model.ca_certificate_refs = list.map((ref: string) =>
        ref.trimStart().startsWith('-----BEGIN') ? ref : ref.toLowerCase(),
      );
      list.forEach((ref: string, k: number) => {
        const p: Path = [...s.path, 'ca_certificates', k];
        if (ref.trimStart().startsWith('-----BEGIN')) {
          try {
            new X509Certificate(ref);
            pems.push(ref);
          } catch {
            err('SEMANTIC', `not a valid PEM certificate${pemHint(ref, false)}`, p);
          }
          return;
        }
        const pem = cas.get(ref.toLowerCase());
        if (pem === undefined)
          err('REFERENCE', `invalid reference 'ca_certificates: ${ref}' (no such entry in 'ca_certificates')`, p);
        else pems.push(pem);
      });
      s.model.ca_certificates = pems;
    }
    const ref = clientCertificate(s.raw.client_certificate, s.path, certIds, err);
    if (ref !== null) {
      s.model.client_certificate = ref;
      if (s.model.protocol !== 'https')
        err('SEMANTIC', `client_certificate needs protocol 'https' (this service speaks '${s.model.protocol}')`, [
          ...s.path,
          'client_certificate',
        ]);
    }
  }
  // An upstream's certificate serves its targets when the service names none (Kong's fallback).
  for (const u of b.upstreams) {
    const ref = clientCertificate(u.raw.client_certificate, u.path, certIds, err);
    if (ref !== null) u.model.client_certificate = ref;
  }
}

/** A `client_certificate` reference (an id, or `{id}`) resolved to a certificate's id; null when absent or unknown (reported). */
function clientCertificate(cc: unknown, path: Path, certIds: ReadonlySet<string>, err: Build['err']): string | null {
  if (cc === undefined || cc === null) return null;
  const ref = String(typeof cc === 'object' ? (cc as { id: unknown }).id : cc).toLowerCase();
  const p: Path = typeof cc === 'object' ? [...path, 'client_certificate', 'id'] : [...path, 'client_certificate'];
  if (certIds.has(ref)) return ref;
  err('REFERENCE', `invalid reference 'client_certificate: ${ref}' (no such entry in 'certificates')`, p);
  return null;
}
