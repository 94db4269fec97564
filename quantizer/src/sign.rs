//! Signing artifacts (docs/FORMAT.md, "Signature"; the runtime checks them): Ed25519 keys in the
//! files OpenSSL reads and writes — the private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), the public
//! key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`) — and an artifact re-laid out with a
//! Signature section as its last section: the other sections' bodies are copied unchanged (their
//! contents hold no file offsets), the table gains one entry, the body is filled and the checksum
//! written last.

use crate::error::{Error, Result};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ferrite_runtime::format::signature::{
    signed_message, PublicKey, SignatureBody, ALGORITHM_ED25519_SHA512, SIGNATURE_BODY_LEN, SIGNATURE_FORMAT,
};
use ferrite_runtime::format::{
    checksum, Header, SectionEntry, SectionKind, COMPACT_SECTION_ALIGN, COMPACT_WEIGHT_ALIGN, SECTION_ALIGN,
    SECTION_SKIPPABLE,
};
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
    let bad = |m: &str| Error::Usage(format!("cannot sign: {m}"));
    let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
    ferrite_runtime::Model::from_bytes(aligned.as_slice()).map_err(|e| bad(&format!("not a valid artifact: {e}")))?;
    let header = Header::read_from_prefix(bytes).map_err(|_| bad("no header"))?.0;
    let count = header.section_count.get() as usize;
    let table = bytes.get(64..64 + count * 32).ok_or_else(|| bad("truncated section table"))?;
    let entries = <[SectionEntry]>::ref_from_bytes(table).map_err(|_| bad("section table"))?;
    let compact = header.flags.get() & ferrite_runtime::format::caps::COMPACT != 0;
    let mut kept: Vec<(SectionEntry, &[u8])> = Vec::new();
    for e in entries.iter().filter(|e| e.kind.get() != SectionKind::Signature as u32) {
        let (o, l) = (e.offset.get() as usize, e.len.get() as usize);
        kept.push((*e, bytes.get(o..o + l).ok_or_else(|| bad("section outside the file"))?));
    }
    let zero_body = [0u8; SIGNATURE_BODY_LEN];
    let sig_entry = SectionEntry {
        kind: U32::new(SectionKind::Signature as u32),
        flags: U32::new(SECTION_SKIPPABLE),
        offset: U64::ZERO,
        len: U64::new(SIGNATURE_BODY_LEN as u64),
        reserved: U64::ZERO,
    };
    kept.push((sig_entry, &zero_body));
    // Lay the sections out again, as the writer does, with one more table entry.
    let mut cursor = 64 + (kept.len() * 32) as u64;
    let mut placed = Vec::new();
    for (mut e, body) in kept {
        let align = match (compact, SectionKind::from_u32(e.kind.get())) {
            (false, _) => SECTION_ALIGN,
            (true, Some(SectionKind::Weights)) => COMPACT_WEIGHT_ALIGN,
            (true, _) => COMPACT_SECTION_ALIGN,
        };
        let off = cursor.div_ceil(align) * align;
        e.offset = U64::new(off);
        cursor = off + body.len() as u64;
        placed.push((e, body));
    }
    let mut out = vec![0u8; cursor as usize];
    for (k, (e, body)) in placed.iter().enumerate() {
        out[64 + k * 32..64 + (k + 1) * 32].copy_from_slice(e.as_bytes());
        let o = e.offset.get() as usize;
        out[o..o + body.len()].copy_from_slice(body);
    }
    let mut h = header;
    h.section_count = U32::new(placed.len() as u32);
    h.total_len = U64::new(cursor);
    h.checksum = U32::ZERO;
    out[..64].copy_from_slice(h.as_bytes());
    let sig_at = placed.last().map(|(e, _)| e.offset.get() as usize).unwrap_or_default();
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
    h.checksum = U32::new(checksum(&out));
    out[..64].copy_from_slice(h.as_bytes());
    Ok(out)
}

/// The signer's public key recorded in `bytes`' Signature section, if it has one (not checked:
/// [`ferrite_runtime::LoadOptions::trusted_keys`] checks it).
pub fn signer(bytes: &[u8]) -> Option<PublicKey> {
    let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
    let art = ferrite_runtime::format::Artifact::parse(aligned.as_slice(), false).ok()?;
    SignatureBody::ref_from_bytes(art.signature).ok().map(|b| b.key)
}
