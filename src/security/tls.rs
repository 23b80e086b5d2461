//! TLS settings (`ssl.*`) turned into one rustls client configuration per producer, with the
//! `ring` crypto provider (no cmake, NASM or OpenSSL needed to build), TLS 1.2 and 1.3.
//!
//! Trust: `ssl.ca.location` (a PEM file, or a folder of them), `ssl.ca.pem` (inline), Java's
//! `ssl.truststore.location` / `ssl.truststore.certificates` with `ssl.truststore.type=PEM`;
//! with none of them, the system's roots (rustls-native-certs). Client certificate (mutual
//! TLS): `ssl.certificate.location` + `ssl.key.location` (+ `ssl.key.password` for an encrypted
//! PKCS#8 key), inline `ssl.certificate.pem` + `ssl.key.pem`, or Java's
//! `ssl.keystore.type=PEM` with `ssl.keystore.location` (key and chain in one file) or
//! `ssl.keystore.key` + `ssl.keystore.certificate.chain`. Host name verification:
//! `ssl.endpoint.identification.algorithm=https` (the default); empty turns it off (the chain
//! is still verified), with a warning.
//!
//! Runs on: the producer's constructor (settings); the sender thread (sessions).

use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

/// The `ssl.*` values the TLS setup reads, by property name.
pub(crate) trait TlsSource {
    /// The value of `key`, trimmed; empty when unset.
    fn value(&self, key: &str) -> String;
}

/// A producer's TLS client configuration.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

fn config_err(what: impl std::fmt::Display) -> Error {
    Error::config(what.to_string())
}

fn read_certs_file(path: &Path, prop: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)
        .map_err(|e| config_err(format!("{prop}: cannot read {}: {e}", path.display())))?;
    parse_certs(&bytes, &format!("{prop} ({})", path.display()))
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| config_err(format!("{what}: not valid PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(config_err(format!("{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")));
    }
    Ok(certs)
}

/// The PEM block labelled `label`, base64-decoded.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    super::base64::decode(&body)
}

fn parse_key(pem: &[u8], password: &str, what: &str) -> Result<PrivateKeyDer<'static>> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if password.is_empty() {
            return Err(config_err(format!("{what}: the key is encrypted; set ssl.key.password")));
        }
        let der = pem_block(&text, "ENCRYPTED PRIVATE KEY").ok_or_else(|| {
            config_err(format!("{what}: the ENCRYPTED PRIVATE KEY block is not valid base64"))
        })?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| config_err(format!("{what}: not an encrypted PKCS#8 key: {e}")))?;
        let doc = info.decrypt(password.as_bytes()).map_err(|_| {
            config_err(format!(
                "{what}: cannot decrypt the key with ssl.key.password (wrong password or unsupported cipher)"
            ))
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec())));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(config_err(format!(
            "{what}: legacy OpenSSL-encrypted keys are not supported; convert with `openssl pkcs8 -topk8` (encrypted PKCS#8)"
        )));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| config_err(format!("{what}: no usable PEM private key: {e}")))
}

/// Checks the chain and ignores only a host name mismatch (`ssl.endpoint.identification.algorithm`
/// empty, as Java allows).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last, so a name error means a good chain.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn roots(src: &dyn TlsSource) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, what: &str| -> Result<()> {
        for c in certs {
            store
                .add(c)
                .map_err(|e| config_err(format!("{what}: a certificate cannot be a trust anchor: {e}")))?;
        }
        Ok(())
    };
    let truststore_type = src.value("ssl.truststore.type");
    let java_pem = truststore_type.eq_ignore_ascii_case("PEM");
    let mut configured = false;
    let ca_location = src.value("ssl.ca.location");
    if !ca_location.is_empty() {
        configured = true;
        let path = Path::new(&ca_location);
        if path.is_dir() {
            let mut found = 0;
            let entries = std::fs::read_dir(path)
                .map_err(|e| config_err(format!("ssl.ca.location: cannot list {}: {e}", path.display())))?;
            for entry in entries.flatten() {
                let p = entry.path();
                let bytes = std::fs::read(&p).unwrap_or_default();
                if let Ok(certs) = parse_certs(&bytes, "") {
                    found += certs.len();
                    add(certs, "ssl.ca.location")?;
                }
            }
            if found == 0 {
                return Err(config_err(format!(
                    "ssl.ca.location: no PEM certificate in folder {}",
                    path.display()
                )));
            }
        } else {
            add(read_certs_file(path, "ssl.ca.location")?, "ssl.ca.location")?;
        }
    }
    let ca_pem = src.value("ssl.ca.pem");
    if !ca_pem.is_empty() {
        configured = true;
        add(parse_certs(ca_pem.as_bytes(), "ssl.ca.pem")?, "ssl.ca.pem")?;
    }
    let ts_location = src.value("ssl.truststore.location");
    let ts_inline = src.value("ssl.truststore.certificates");
    if (!ts_location.is_empty() || !ts_inline.is_empty()) && !java_pem {
        return Err(config_err(format!(
            "ssl.truststore.type={truststore_type}: only PEM trust stores are readable here (set ssl.truststore.type=PEM, \
             or use ssl.ca.location); convert a JKS/PKCS12 store with `keytool -exportcert -rfc`"
        )));
    }
    if !ts_location.is_empty() {
        configured = true;
        add(read_certs_file(Path::new(&ts_location), "ssl.truststore.location")?, "ssl.truststore.location")?;
    }
    if !ts_inline.is_empty() {
        configured = true;
        add(
            parse_certs(ts_inline.as_bytes(), "ssl.truststore.certificates")?,
            "ssl.truststore.certificates",
        )?;
    }
    if !configured {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            log::warn!("loading the system's trusted certificates: {e}");
        }
        let (added, _ignored) = store.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(config_err(
                "TLS: no trusted certificates: the system has none readable; set ssl.ca.location (or ssl.ca.pem)",
            ));
        }
    }
    Ok(store)
}

fn client_identity(
    src: &dyn TlsSource,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let password = src.value("ssl.key.password");
    let (cert_loc, key_loc) = (src.value("ssl.certificate.location"), src.value("ssl.key.location"));
    let (cert_pem, key_pem) = (src.value("ssl.certificate.pem"), src.value("ssl.key.pem"));
    let keystore_type = src.value("ssl.keystore.type");
    let (ks_loc, ks_key, ks_chain) = (
        src.value("ssl.keystore.location"),
        src.value("ssl.keystore.key"),
        src.value("ssl.keystore.certificate.chain"),
    );
    if !cert_loc.is_empty() || !key_loc.is_empty() {
        if cert_loc.is_empty() || key_loc.is_empty() {
            return Err(config_err("mutual TLS needs both ssl.certificate.location and ssl.key.location"));
        }
        let certs = read_certs_file(Path::new(&cert_loc), "ssl.certificate.location")?;
        let key_bytes = std::fs::read(&key_loc)
            .map_err(|e| config_err(format!("ssl.key.location: cannot read {key_loc}: {e}")))?;
        let key = parse_key(&key_bytes, &password, &format!("ssl.key.location ({key_loc})"))?;
        return Ok(Some((certs, key)));
    }
    if !cert_pem.is_empty() || !key_pem.is_empty() {
        if cert_pem.is_empty() || key_pem.is_empty() {
            return Err(config_err("mutual TLS needs both ssl.certificate.pem and ssl.key.pem"));
        }
        let certs = parse_certs(cert_pem.as_bytes(), "ssl.certificate.pem")?;
        return Ok(Some((certs, parse_key(key_pem.as_bytes(), &password, "ssl.key.pem")?)));
    }
    if !ks_loc.is_empty() || !ks_key.is_empty() || !ks_chain.is_empty() {
        if !keystore_type.eq_ignore_ascii_case("PEM") {
            return Err(config_err(format!(
                "ssl.keystore.type={keystore_type}: only PEM key stores are readable here (set ssl.keystore.type=PEM, \
                 or use ssl.certificate.location and ssl.key.location)"
            )));
        }
        if !ks_loc.is_empty() {
            let bytes = std::fs::read(&ks_loc)
                .map_err(|e| config_err(format!("ssl.keystore.location: cannot read {ks_loc}: {e}")))?;
            let what = format!("ssl.keystore.location ({ks_loc})");
            return Ok(Some((parse_certs(&bytes, &what)?, parse_key(&bytes, &password, &what)?)));
        }
        if ks_key.is_empty() || ks_chain.is_empty() {
            return Err(config_err(
                "a PEM key store needs both ssl.keystore.key and ssl.keystore.certificate.chain",
            ));
        }
        let certs = parse_certs(ks_chain.as_bytes(), "ssl.keystore.certificate.chain")?;
        return Ok(Some((certs, parse_key(ks_key.as_bytes(), &password, "ssl.keystore.key")?)));
    }
    Ok(None)
}

fn protocol_versions(src: &dyn TlsSource) -> Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let enabled = src.value("ssl.enabled.protocols");
    if enabled.is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for p in enabled.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p {
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "TLSv1.1" | "TLSv1" | "SSLv3" => {
                log::warn!("ssl.enabled.protocols: {p} is insecure and not offered by rustls; ignored")
            }
            other => {
                return Err(config_err(format!(
                    "ssl.enabled.protocols: unknown protocol {other:?}; accepted: TLSv1.2, TLSv1.3"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(config_err("ssl.enabled.protocols enables neither TLSv1.2 nor TLSv1.3"));
    }
    Ok(out)
}

impl TlsConnector {
    /// Builds the client configuration from the `ssl.*` properties; files are read now, so a
    /// missing or unreadable one is an error of the producer's constructor.
    pub(crate) fn new(src: &dyn TlsSource) -> Result<TlsConnector> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let store = Arc::new(roots(src)?);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&protocol_versions(src)?)
            .map_err(|e| config_err(format!("TLS: {e}")))?;
        let algorithm = src.value("ssl.endpoint.identification.algorithm");
        let verify_names = match algorithm.to_ascii_lowercase().as_str() {
            "https" => true,
            "" => {
                log::warn!(
                    "ssl.endpoint.identification.algorithm is empty: broker certificates are checked against the \
                     trusted CAs but not against the broker's host name"
                );
                false
            }
            other => {
                return Err(config_err(format!(
                    "ssl.endpoint.identification.algorithm={other:?}: accepted: https, or empty to turn host name checks off"
                )))
            }
        };
        let builder = if verify_names {
            builder.with_root_certificates(store)
        } else {
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider)
                .build()
                .map_err(|e| config_err(format!("TLS: {e}")))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
        };
        let config = match client_identity(src)? {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| config_err(format!("TLS client certificate and key do not go together: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConnector { config: Arc::new(config) })
    }

    /// A client session for a broker at `host` (a name or an IP address).
    pub(crate) fn session(&self, host: &str) -> Result<ClientConnection> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::config(format!("TLS: {host:?} is not a valid server name: {e}")))?;
        ClientConnection::new(self.config.clone(), name)
            .map_err(|e| Error::new(ErrorKind::Authentication, format!("TLS session for {host}: {e}")))
    }
}

/// A TLS failure as an error naming the cause and the setting to look at.
pub(crate) fn handshake_error(addr: &str, e: &rustls::Error) -> Error {
    use rustls::AlertDescription as A;
    let hint = match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            " (the broker's certificate is not signed by a trusted CA: check ssl.ca.location)"
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            " (the broker's certificate does not name this host: check the broker's advertised listeners, \
             or ssl.endpoint.identification.algorithm)"
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            " (the broker's certificate has expired)"
        }
        rustls::Error::AlertReceived(A::BadCertificate | A::CertificateRequired | A::UnknownCA | A::CertificateUnknown) => {
            " (the broker refused our client certificate, or wants one: check ssl.certificate.location and ssl.key.location)"
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            " (the broker did not answer in TLS: is this listener PLAINTEXT or SASL_PLAINTEXT? check security.protocol)"
        }
        _ => "",
    };
    Error::new(ErrorKind::Authentication, format!("TLS handshake with {addr} failed: {e}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Props(HashMap<&'static str, String>);
    impl TlsSource for Props {
        fn value(&self, key: &str) -> String {
            self.0.get(key).cloned().unwrap_or_default()
        }
    }

    fn props(kv: &[(&'static str, &str)]) -> Props {
        Props(kv.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    fn err(kv: &[(&'static str, &str)]) -> String {
        TlsConnector::new(&props(kv)).unwrap_err().to_string()
    }

    #[test]
    fn missing_files_and_bad_pem_are_config_errors_naming_the_property() {
        assert!(err(&[("ssl.ca.location", "/nonexistent/ca.pem")]).contains("ssl.ca.location: cannot read"));
        assert!(err(&[("ssl.ca.pem", "not a certificate")]).contains("ssl.ca.pem: no PEM certificate"));
        let e = err(&[("ssl.truststore.location", "/x.jks"), ("ssl.truststore.type", "JKS")]);
        assert!(e.contains("only PEM trust stores"), "{e}");
        let e = err(&[("ssl.ca.pem", ""), ("ssl.certificate.location", "/c.pem")]);
        assert!(e.contains("needs both"), "{e}");
        let e = err(&[("ssl.endpoint.identification.algorithm", "ldap")]);
        assert!(e.contains("accepted: https"), "{e}");
        let e = err(&[("ssl.enabled.protocols", "TLSv1.1")]);
        assert!(e.contains("neither"), "{e}");
    }

    #[test]
    fn an_encrypted_key_without_or_with_a_wrong_password_is_refused_clearly() {
        let pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = parse_key(pem.as_bytes(), "", "ssl.key.pem").unwrap_err().to_string();
        assert!(e.contains("set ssl.key.password"), "{e}");
        let e = parse_key(pem.as_bytes(), "hunter2", "ssl.key.pem").unwrap_err().to_string();
        assert!(e.contains("ssl.key.pem") && !e.contains("hunter2"), "{e}");
        let legacy =
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----\n";
        assert!(parse_key(legacy.as_bytes(), "x", "k").unwrap_err().to_string().contains("openssl pkcs8"));
    }

    #[test]
    fn pem_blocks_are_found_by_label() {
        let text = "junk\n-----BEGIN X-----\nZm9v\nYmFy\n-----END X-----\n";
        assert_eq!(pem_block(text, "X").unwrap(), b"foobar");
        assert_eq!(pem_block(text, "Y"), None);
    }
}
