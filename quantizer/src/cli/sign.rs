//! `ferrite keygen | sign | verify`: Ed25519 keys in OpenSSL's PEM files, artifacts signed and
//! checked (quantizer/src/sign.rs; the runtime's `LoadOptions::trusted_keys` does the check).

use anyhow::{anyhow, bail};
use ferrite_quantizer::quantize::write_atomically;
use ferrite_quantizer::sign;
use ferrite_runtime::{LoadOptions, Model};
use std::path::{Path, PathBuf};

/// The public key's file: the private key's path with `.pub` added.
fn public_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Writes a key pair; the private key file is created readable by its owner only.
pub fn keygen(out: &Path, force: bool) -> anyhow::Result<()> {
    let public = public_path(out);
    for p in [out, &public] {
        if p.exists() && !force {
            bail!("{}: exists (give --force to replace it)", p.display());
        }
    }
    let key = sign::generate();
    let private_pem = sign::private_pem(&key)?;
    let public_pem = sign::public_pem(&key.verifying_key())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(out).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode through open(): make it private before the key lands.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    }
    std::io::Write::write_all(&mut f, private_pem.as_bytes()).map_err(|e| anyhow!("{}: {e}", out.display()))?;
    write_atomically(&public, public_pem.as_bytes())?;
    let fp = sign::fingerprint(&key.verifying_key().to_bytes());
    eprintln!("ferrite: wrote {} (private: keep it secret) and {} (public, key {fp})", out.display(), public.display());
    Ok(())
}

/// Signs `artifact` with the private key at `key`, writing `output` (default: in place).
pub fn sign(artifact: &Path, key: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    let key = sign::read_private(key)?;
    let bytes = std::fs::read(artifact).map_err(|e| anyhow!("{}: {e}", artifact.display()))?;
    let signed = sign::sign(&bytes, &key).map_err(|e| anyhow!("{}: {e}", artifact.display()))?;
    let out = output.unwrap_or(artifact);
    write_atomically(out, &signed)?;
    let fp = sign::fingerprint(&key.verifying_key().to_bytes());
    eprintln!("ferrite: signed {} with key {fp} ({} bytes)", out.display(), signed.len());
    Ok(())
}

/// Loads `artifact` trusting `pubkeys`: prints which key signed it, or fails.
pub fn verify(artifact: &Path, pubkeys: &[PathBuf]) -> anyhow::Result<()> {
    let keys = pubkeys.iter().map(|p| Ok(sign::read_public(p)?.to_bytes())).collect::<anyhow::Result<Vec<_>>>()?;
    let opts = LoadOptions { trusted_keys: &keys, ..Default::default() };
    let model = Model::open_with(artifact, opts).map_err(|e| anyhow!("{}: {e}", artifact.display()))?;
    let signer = sign::signer(model.bytes()).map(|k| sign::fingerprint(&k)).unwrap_or_default();
    out!("{}: signature valid, key {signer}", artifact.display());
    Ok(())
}
