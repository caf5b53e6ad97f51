//! What the engine says about a face beyond who it is: dense landmarks, head pose, eye
//! openness and quality (the measures and the recipe are in `faceprint_vision::analysis`).

use faceprint_types::{DetectedFace, Embedding, Point};
use faceprint_vision::RgbImage;
use faceprint_vision::analysis::pose::PoseFit;
use faceprint_vision::analysis::{
    EyeOpenness, HeadPose, QualityInputs, QualityReport, QualityScales, assess, estimate_head_pose, eye_openness,
};
use serde::Serialize;

/// Dense landmarks, pose, eyes and quality of one face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceAnalysis {
    /// The 106 points of InsightFace's `2d106det` layout, in original-image pixels; absent
    /// when the engine has no landmark model.
    pub landmarks106: Option<Vec<Point>>,
    /// Absent without landmarks, or when the fit failed.
    pub pose: Option<HeadPose>,
    pub eyes: Option<EyeOpenness>,
    pub quality: QualityReport,
    /// The fitted pose's camera and transform, for drawing its axes.
    #[serde(skip)]
    pub pose_fit: Option<PoseFit>,
}

/// Analyses one detected face from its aligned crop, embedding and (when a landmark model ran)
/// its 106 landmarks, in an image of `size` pixels.
pub(crate) fn analyse_face(
    detection: &DetectedFace,
    crop: &RgbImage,
    embedding: &Embedding,
    landmarks106: Option<Vec<Point>>,
    size: (u32, u32),
    scales: &QualityScales,
) -> FaceAnalysis {
    let pose_fit = landmarks106.as_deref().and_then(|l| estimate_head_pose(l, size.0, size.1).ok());
    let pose = pose_fit.map(|f| f.pose);
    let eyes = landmarks106.as_deref().and_then(eye_openness);
    let quality = assess(
        &QualityInputs {
            crop,
            landmarks: &detection.landmarks,
            detection_score: detection.score,
            embedding_norm: Some(embedding.raw_norm),
            pose,
            eyes,
        },
        scales,
    );
    FaceAnalysis { landmarks106, pose, eyes, quality, pose_fit }
}
