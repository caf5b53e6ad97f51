//! `export` and `import`: a gallery as JSON lines ([`faceprint::transfer`]), written beside the
//! target and renamed so a failed export never leaves half a file.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use faceprint::Gallery;
use faceprint::library::Library;

/// Writes the gallery, and its photo library when it keeps one.
pub fn export(gallery: &dyn Gallery, library: Option<&dyn Library>, out: &Path) -> Result<ExitCode> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temporary =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut writer = BufWriter::new(temporary.as_file());
    let faces = faceprint::transfer::export(gallery, library, &mut writer)?;
    writer.flush()?;
    drop(writer);
    temporary.as_file().sync_all()?;
    temporary.persist(out).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", serde_json::json!({"exported_faces": faces, "to": out.display().to_string()}));
    Ok(ExitCode::SUCCESS)
}

pub fn import(gallery: &dyn Gallery, library: Option<&dyn Library>, input: &Path) -> Result<ExitCode> {
    let file = std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let imported = faceprint::transfer::import(gallery, library, std::io::BufReader::new(file))
        .with_context(|| format!("importing {}", input.display()))?;
    println!("{}", serde_json::to_string(&imported)?);
    Ok(ExitCode::SUCCESS)
}
