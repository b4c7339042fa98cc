//! Moonshine base-en, the default engine's model. Its conversion needs ONNX Runtime's and
//! the `onnx` package's Python APIs (see `scripts/lib/fetch-moonshine`), so the binary
//! carries that script and its helpers and runs it in a work directory: `callscribe
//! fetch-model` and `callscribe demo` then need nothing from the repository.

use std::path::Path;

use anyhow::{Context, bail};
use callscribe::transcribe::moonshine::MoonshineEngine;

const SCRIPTS: [(&str, &str); 4] = [
    (
        "fetch-moonshine",
        include_str!("../../../scripts/lib/fetch-moonshine"),
    ),
    (
        "moonshine-reexport.py",
        include_str!("../../../scripts/lib/moonshine-reexport.py"),
    ),
    (
        "moonshine-requirements.txt",
        include_str!("../../../scripts/lib/moonshine-requirements.txt"),
    ),
    ("common.sh", include_str!("../../../scripts/lib/common.sh")),
];

/// Makes sure `dir` holds Moonshine's files with their pinned sums, fetching and
/// converting them if not.
pub async fn ensure_moonshine(dir: &Path) -> anyhow::Result<()> {
    if present(dir) {
        return Ok(());
    }
    let scripts = tempfile::tempdir().context("cannot create a temporary directory")?;
    for (name, text) in SCRIPTS {
        std::fs::write(scripts.path().join(name), text)
            .with_context(|| format!("cannot write {name} to a temporary directory"))?;
    }
    let mut fetch = std::process::Command::new("bash");
    fetch.arg(scripts.path().join("fetch-moonshine")).arg(dir);
    let status = tokio::task::spawn_blocking(move || fetch.status())
        .await?
        .context("cannot run bash to fetch Moonshine")?;
    if !status.success() || !present(dir) {
        bail!("fetching Moonshine failed ({status}); its output above says why");
    }
    Ok(())
}

fn present(dir: &Path) -> bool {
    MoonshineEngine::verify(dir).is_ok()
}
