//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka runs them (KIP-84): no
//! channel binding (`n,,`), the user name escaped (`=` as `=3D`, `,` as `=2C`) and not
//! SASLprep-normalised (Kafka's server does not normalise either), at least 4096 iterations.
//!
//! A sans-I/O state machine: [`Scram::first`] gives the client-first message, [`Scram::answer`]
//! turns the server-first message into the client-final one, [`Scram::verify`] checks the
//! server's signature in the server-final message, so a broker that does not know the password
//! cannot pretend it does. PBKDF2, HMAC and SHA-2 come from the RustCrypto crates.
//!
//! Runs on: sender thread.

use super::base64;
use crate::error::{Error, ErrorKind, Result};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The hash a SCRAM mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    pub(crate) fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Kafka's (and RFC 7677's) lower bound: fewer iterations from a server are refused.
const MIN_ITERATIONS: u32 = 4096;
/// An upper bound, so that a hostile server cannot make the sender thread spin for minutes.
const MAX_ITERATIONS: u32 = 1_000_000;

/// One SCRAM exchange.
pub(crate) struct Scram {
    hash: ScramHash,
    password: Vec<u8>,
    client_nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl std::fmt::Debug for Scram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scram").field("hash", &self.hash).finish_non_exhaustive()
    }
}

fn failed(hash: ScramHash, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Authentication, format!("{} authentication failed: {why}", hash.mechanism()))
}

/// `saslname` of RFC 5802: `=` and `,` escaped.
fn escape_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

impl Scram {
    /// Starts an exchange for `user` with a fresh random nonce.
    pub(crate) fn new(hash: ScramHash, user: &str, password: &str) -> Result<Scram> {
        let mut raw = [0u8; 24];
        getrandom::getrandom(&mut raw)
            .map_err(|e| Error::new(ErrorKind::Authentication, format!("no random nonce for SCRAM: {e}")))?;
        Ok(Scram::with_nonce(hash, user, password, &base64::encode(&raw)))
    }

    /// Starts an exchange with the given client nonce (the RFC test vectors use fixed ones).
    pub(crate) fn with_nonce(hash: ScramHash, user: &str, password: &str, nonce: &str) -> Scram {
        let client_first_bare = format!("n={},r={nonce}", escape_name(user));
        Scram {
            hash,
            password: password.as_bytes().to_vec(),
            client_nonce: nonce.to_owned(),
            client_first_bare,
            server_signature: None,
        }
    }

    /// The client-first message.
    pub(crate) fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message for the server-first message `server_first`.
    pub(crate) fn answer(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let hash = self.hash;
        let text = std::str::from_utf8(server_first)
            .map_err(|_| failed(hash, "the server-first message is not UTF-8"))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in text.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("e", v)) => return Err(failed(hash, format!("the broker says {v}"))),
                Some(("m", _)) => {
                    return Err(failed(hash, "the broker asks for an extension this client lacks"))
                }
                _ => {}
            }
        }
        let nonce =
            nonce.ok_or_else(|| failed(hash, format!("no nonce in the server-first message {text:?}")))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(failed(hash, "the broker's nonce does not extend ours"));
        }
        let salt = salt
            .and_then(base64::decode)
            .ok_or_else(|| failed(hash, format!("no valid salt in the server-first message {text:?}")))?;
        let iterations: u32 = iterations.and_then(|i| i.parse().ok()).ok_or_else(|| {
            failed(hash, format!("no iteration count in the server-first message {text:?}"))
        })?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(failed(
                hash,
                format!("the broker asks for {iterations} iterations; accepted: {MIN_ITERATIONS} to {MAX_ITERATIONS}"),
            ));
        }
        let salted = hash.salted_password(&self.password, &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}"); // biws = base64("n,,")
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", base64::encode(&proof)).into_bytes())
    }

    /// Checks the server-final message: the broker proved it knows the password's keys.
    pub(crate) fn verify(&self, server_final: &[u8]) -> Result<()> {
        let hash = self.hash;
        let text = std::str::from_utf8(server_final)
            .map_err(|_| failed(hash, "the server-final message is not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(failed(hash, format!("the broker says {e}")));
        }
        let want =
            self.server_signature.as_ref().ok_or_else(|| failed(hash, "server-final before server-first"))?;
        match text.split(',').find_map(|a| a.strip_prefix("v=")).and_then(base64::decode) {
            Some(got) if got == *want => Ok(()),
            Some(_) => {
                Err(failed(hash, "the broker's signature is wrong (it does not know this user's keys)"))
            }
            None => Err(failed(hash, format!("no signature in the server-final message {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_vector() {
        let mut s = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = s.answer(server_first).unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        s.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        let e = s.verify(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.to_string().contains("signature is wrong"), "{e}");
    }

    /// SCRAM-SHA-512 against the server side computed here from RFC 5802's definitions (there is
    /// no published vector): the proof the server recomputes from the stored key must match.
    #[test]
    fn sha512_proof_checks_out_on_the_server_side() {
        let h = ScramHash::Sha512;
        let mut s = Scram::with_nonce(h, "al,i=ce", "secret", "abc");
        assert_eq!(s.first(), b"n,,n=al=2Ci=3Dce,r=abc", "the name is escaped");
        let salt = b"0123456789abcdef";
        let server_first = format!("r=abcXYZ,s={},i=4096", base64::encode(salt));
        let fin = String::from_utf8(s.answer(server_first.as_bytes()).unwrap()).unwrap();
        let (without_proof, proof) = fin.rsplit_once(",p=").unwrap();
        let proof = base64::decode(proof).unwrap();
        // The server keeps StoredKey and ServerKey only.
        let salted = h.salted_password(b"secret", salt, 4096);
        let stored_key = h.hash(&h.hmac(&salted, b"Client Key"));
        let auth = format!("n=al=2Ci=3Dce,r=abc,{server_first},{without_proof}");
        let sig = h.hmac(&stored_key, auth.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&sig).map(|(p, s)| p ^ s).collect();
        assert_eq!(h.hash(&client_key), stored_key, "the proof yields the stored key");
        let server_sig = h.hmac(&h.hmac(&salted, b"Server Key"), auth.as_bytes());
        s.verify(format!("v={}", base64::encode(&server_sig)).as_bytes()).unwrap();
    }

    #[test]
    fn hostile_or_failing_server_messages_are_clear_errors() {
        let cases: [(&[u8], &str); 6] = [
            (b"e=unknown-user", "the broker says unknown-user"),
            (b"r=zzz,s=AAAA,i=4096", "does not extend ours"),
            (b"r=abc,s=AAAA,i=4096", "does not extend ours"),
            (b"r=abcd,s=***,i=4096", "no valid salt"),
            (b"r=abcd,s=AAAA,i=10", "10 iterations"),
            (b"r=abcd,s=AAAA,i=4294967295", "iterations"),
        ];
        for (msg, want) in cases {
            let mut s = Scram::with_nonce(ScramHash::Sha256, "u", "p", "abc");
            let e = s.answer(msg).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Authentication);
            assert!(e.to_string().contains(want), "{e}");
            assert!(!e.to_string().contains("=p"), "{e}");
        }
        let s = Scram::with_nonce(ScramHash::Sha256, "u", "p", "abc");
        assert!(s.verify(b"v=AAAA").unwrap_err().to_string().contains("before server-first"));
        assert!(s.verify(b"e=invalid-proof").unwrap_err().to_string().contains("invalid-proof"));
    }

    #[test]
    fn fresh_nonces_differ() {
        let a = Scram::new(ScramHash::Sha256, "u", "pw-SECRET-1").unwrap();
        let b = Scram::new(ScramHash::Sha256, "u", "pw-SECRET-1").unwrap();
        assert_ne!(a.first(), b.first());
        assert!(!format!("{a:?}").contains("SECRET"), "{a:?}");
    }
}
