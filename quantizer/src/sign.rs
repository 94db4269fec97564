//! Signing artifacts (docs/FORMAT.md, "Signature"; the runtime checks them): Ed25519 keys in the
//! files OpenSSL reads and writes — the private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), the public
//! key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`) — and an artifact re-laid out
//! ([`crate::relayout`]) with a Signature section as its last section: the other sections' bodies
//! are copied unchanged, the table gains one entry, the body is filled and the checksum written
//! last.

use crate::error::{Error, Result};
use crate::relayout::{finish, relayout};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ferrite_runtime::format::signature::{
    signed_message, PublicKey, SignatureBody, ALGORITHM_ED25519_SHA512, SIGNATURE_BODY_LEN, SIGNATURE_FORMAT,
};
use ferrite_runtime::format::{SectionEntry, SectionKind, SECTION_SKIPPABLE};
use std::borrow::Cow;
use std::path::Path;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

fn key_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Key { path: path.to_owned(), message: message.into() }
}

/// A new key pair from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// The private key as PKCS#8 PEM (what `openssl genpkey -algorithm ed25519` writes).
pub fn private_pem(key: &SigningKey) -> Result<String> {
    let pem =
        key.to_pkcs8_pem(Default::default()).map_err(|e| Error::Usage(format!("encoding the private key: {e}")))?;
    Ok(pem.as_str().to_owned())
}

/// The public key as SubjectPublicKeyInfo PEM (what `openssl pkey -pubout` writes).
pub fn public_pem(key: &VerifyingKey) -> Result<String> {
    key.to_public_key_pem(Default::default()).map_err(|e| Error::Usage(format!("encoding the public key: {e}")))
}

/// Reads a private key file (PKCS#8 PEM). The error never shows the file's contents.
pub fn read_private(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    SigningKey::from_pkcs8_pem(&text)
        .map_err(|_| key_err(path, "not an Ed25519 private key in PKCS#8 PEM (BEGIN PRIVATE KEY)"))
}

/// Reads a public key file (SubjectPublicKeyInfo PEM), or a private key file (its public half).
pub fn read_public(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if let Ok(k) = VerifyingKey::from_public_key_pem(&text) {
        return Ok(k);
    }
    SigningKey::from_pkcs8_pem(&text).map(|k| k.verifying_key()).map_err(|_| {
        key_err(path, "not an Ed25519 public key in SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY) or a private key")
    })
}

/// A short name for a public key: the first 8 bytes of its SHA-256, in hex.
pub fn fingerprint(key: &PublicKey) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` (a valid artifact, signed or not) signed with `key`: a new file whose last section is
/// the signature (an old one is replaced).
pub fn sign(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let zero_body = [0u8; SIGNATURE_BODY_LEN];
    let sig_entry = SectionEntry {
        kind: U32::new(SectionKind::Signature as u32),
        flags: U32::new(SECTION_SKIPPABLE),
        offset: U64::ZERO,
        len: U64::new(SIGNATURE_BODY_LEN as u64),
        reserved: U64::ZERO,
    };
    let drop_old = |kind: u32, body| (kind != SectionKind::Signature as u32).then_some(Cow::Borrowed(body));
    let (mut out, offsets) = relayout(bytes, drop_old, Some((sig_entry, &zero_body)))?;
    let sig_at = offsets.last().copied().unwrap_or_default();
    let public = key.verifying_key().to_bytes();
    let mut body = SignatureBody {
        format: U32::new(SIGNATURE_FORMAT),
        algorithm: U32::new(ALGORITHM_ED25519_SHA512),
        key: public,
        signature: [0; 64],
    };
    let message = signed_message(&out, sig_at..sig_at + SIGNATURE_BODY_LEN);
    body.signature = key.sign(&message).to_bytes();
    out[sig_at..sig_at + SIGNATURE_BODY_LEN].copy_from_slice(body.as_bytes());
    finish(&mut out);
    Ok(out)
}

/// The signer's public key recorded in `bytes`' Signature section, if it has one (not checked:
/// [`ferrite_runtime::LoadOptions::trusted_keys`] checks it).
pub fn signer(bytes: &[u8]) -> Option<PublicKey> {
    let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
    let art = ferrite_runtime::format::Artifact::parse(aligned.as_slice(), false).ok()?;
    SignatureBody::ref_from_bytes(art.signature).ok().map(|b| b.key)
}
