//! Face analysis from pixels and landmarks, with no model runtime: the 106-point landmark
//! model's crop and output geometry, head pose by a perspective-n-point fit, eye openness, and
//! the quality measures with the combined score and the enrolment gate built on them.

pub mod eyes;
pub mod landmarks106;
pub mod pose;
pub mod quality;

pub use eyes::{EYES_CLOSED_BELOW, EyeOpenness, eye_openness};
pub use landmarks106::{LANDMARK_CROP_SIZE, Landmarks106, landmark_crop_transform};
pub use pose::{HeadPose, PoseError, estimate_head_pose};
pub use quality::{
    DEFAULT_REFUSALS, GateVerdict, IssueSet, QualityGate, QualityInputs, QualityIssue, QualityParts, QualityReport,
    QualityScales, Ramp, assess,
};
