//! Writes the seed corpora (`switchyard_fuzz::seeds`) into `seeds/<target>/`; run from
//! `fuzz/` with `cargo run --bin seeds` after changing the input formats.

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for (target, seeds) in
        [("http_upgrade", switchyard_fuzz::seeds::http_upgrade()), ("connection", switchyard_fuzz::seeds::connection())]
    {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            fs::write(dir.join(name), bytes)?;
        }
    }
    Ok(())
}
