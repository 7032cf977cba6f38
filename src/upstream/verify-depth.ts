// A service's `tls_verify_depth`: the longest upstream certificate chain the gateway accepts.
// node's TLS client has no setting for OpenSSL's verify depth, so the chain node built for the
// verified peer (its certificate, the intermediates it sent, then the CA found in the trust store)
// is measured where node asks whether the certificate names the host.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** The number of certificates from the leaf to the trust anchor, as node links them by issuer. */
function chainLength(cert: PeerCertificate): number {
  let n = 1;
  let at = cert as PeerCertificate & { issuerCertificate?: PeerCertificate };
  // node ends the chain with a self-signed certificate whose issuer is itself; a cap keeps the walk
  // bounded whatever the peer sent (OpenSSL's own limit is 100).
  while (at.issuerCertificate !== undefined && at.issuerCertificate !== at && n <= 100) {
    at = at.issuerCertificate as typeof at;
    n++;
  }
  return n;
}

/**
 * A `checkServerIdentity` that also refuses a chain deeper than `depth`, as nginx's
 * `proxy_ssl_verify_depth` (which Kong sets from `tls_verify_depth`) does through OpenSSL's
 * SSL_set_verify_depth: depth N accepts the leaf, N intermediate CAs and the trust anchor, so 0
 * accepts only a leaf the trusted CA signed itself (Kong's 18-upstream_tls_spec: a leaf under an
 * intermediate is refused at 0 and accepted at 1). The error is OpenSSL's
 * X509_V_ERR_CERT_CHAIN_TOO_LONG; with `tls_verify: false` node only records it.
 */
export function depthChecker(depth: number): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const wrongName = checkServerIdentity(host, cert);
    if (wrongName !== undefined) return wrongName;
    const length = chainLength(cert);
    if (length <= depth + 2) return undefined;
    return Object.assign(
      new Error(
        `certificate chain too long: ${length - 2} intermediate certificates, tls_verify_depth allows ${depth}`,
      ),
      { code: 'CERT_CHAIN_TOO_LONG' },
    );
  };
}
