//! Request bodies and queries. The answers are the shared contract types of
//! [`faceprint::contract`], the same the command line writes.

use faceprint::FaceSelect;
pub use faceprint::contract::{
    CandidateOut, CompareOut, EnrolledOut, FaceOut, FaceRecordOut, FileErrorOut, IdentifiedOut, IdentifyOut, ImageOut,
    LibraryCountsOut, LibraryStatusOut, PersonOut, PhotoHitOut, SplitOut, SubjectDetailOut, SubjectOut, VerifyOut,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewSubjectIn {
    pub name: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Either or both.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatchSubjectIn {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedOut {
    pub deleted: i64,
    /// Faces deleted with it.
    pub faces: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// Why the gallery is not ready, as a stable code (`gallery_unreachable`,
    /// `gallery_auth_failed`, `gallery_extension_missing`, …); absent when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The gallery's own words for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `/readyz`: where the models run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceInfo>,
}

/// Where the models run: `cpu` or `cuda:N`, as chosen for `--device` (`auto` says why it took
/// the CPU).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceInfo {
    /// What was asked for: `cpu`, `cuda:N` or `auto`.
    pub requested: String,
    /// What the models run on: `cpu` or `cuda:N`.
    pub target: String,
    /// The GPU's name, from the NVIDIA driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_name: Option<String>,
    /// Why `auto` took the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_because: Option<String>,
}

/// Which face of a photo: `all` (default for detection and identification), `largest` or
/// `center` (default for compare and verify).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SelectQuery {
    pub select: Option<String>,
}

pub fn parse_select(text: Option<&str>, default: FaceSelect) -> Result<FaceSelect, ApiError> {
    match text {
        None => Ok(default),
        Some("all") => Ok(FaceSelect::All),
        Some("largest") => Ok(FaceSelect::Largest),
        Some("center") => Ok(FaceSelect::Center),
        Some(other) => {
            Err(ApiError::bad_request("bad_select", format!("select {other:?}: use all, largest or center")))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IdentifyQuery {
    /// Default `default`.
    pub collection: Option<String>,
    /// Candidates per face, default 5.
    pub k: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Subjects per page, default 100, at most 1000.
    pub limit: Option<usize>,
    /// The last id of the previous page.
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VerifyQuery {
    pub collection: Option<String>,
    /// The subject: `#12` for id 12 (URL-encoded `%2312`), or its name.
    pub subject: String,
    pub select: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EnrolQuery {
    /// Turn the quality gate off: no refusals, no warnings.
    pub force: Option<bool>,
    pub select: Option<String>,
    /// Quality findings that refuse the face rather than warn, comma-separated (`blurry`,
    /// `too_dark`, `too_bright`, `low_contrast`, `too_small`, `profile_pose`, `eyes_closed`,
    /// `low_quality`). By default none refuses.
    pub refuse: Option<String>,
}
