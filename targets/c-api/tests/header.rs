//! include/ferrite.h is what cbindgen generates from the sources now: a stale header fails here
//! (`FERRITE_BLESS=1 cargo test -p ferrite-c --test header` rewrites it).

#[test]
fn committed_header_is_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new().with_crate(dir).with_config(config).generate().expect("cbindgen").write(&mut fresh);
    let path = dir.join("include/ferrite.h");
    if std::env::var_os("FERRITE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write ferrite.h");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/ferrite.h is stale: FERRITE_BLESS=1 cargo test -p ferrite-c --test header regenerates it"
    );
}
