//! The 106-point landmark model (InsightFace `2d106det`): a 192×192 crop around a detection
//! box in, 106 points out, mapped back to image pixels.

use std::path::Path;

use faceprint_types::{DetectedFace, Point};
use faceprint_vision::RgbImage;
use faceprint_vision::align::warp_similarity;
use faceprint_vision::analysis::landmarks106::{
    LANDMARK_CROP_SIZE, Landmarks106, crop_points_from_output, crop_points_to_image, landmark_crop_transform,
    mirror_average, mirror_image,
};
use ort::session::Session;
use ort::value::TensorRef;

use crate::InferError;
use crate::device::Target;
use crate::runtime::RuntimeOptions;
use crate::session::{input_dims, open_session};

/// One landmark session. Not `Sync`: one thread at a time.
#[derive(Debug)]
pub struct Landmarker106 {
    session: Session,
    model: String,
    input_name: String,
    /// `(v − mean) / std` per RGB channel value (`2d106det`: 0 and 1, raw pixels).
    input_mean: f32,
    input_std: f32,
    blob: Vec<f32>,
    model_time: std::time::Duration,
}

impl Landmarker106 {
    pub fn open(
        path: &Path,
        input_mean: f32,
        input_std: f32,
        threads: usize,
        runtime: &RuntimeOptions,
        target: Target,
    ) -> Result<Self, InferError> {
        let session = open_session(path, threads, runtime, target)?;
        let model = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let incompatible = |reason: String| InferError::IncompatibleModel {
            model: model.clone(),
            expected: "106-point landmark model (192x192 input)",
            reason,
        };
        let (input_name, dims) = input_dims(&session, 0).ok_or_else(|| incompatible("no tensor input".into()))?;
        let side = LANDMARK_CROP_SIZE as i64;
        if dims.len() != 4 || dims[1] != 3 || dims[2] != side || dims[3] != side {
            return Err(incompatible(format!("input shape {dims:?} is not [N, 3, 192, 192]")));
        }
        Ok(Self {
            session,
            model,
            input_name,
            input_mean,
            input_std,
            blob: Vec::new(),
            model_time: std::time::Duration::ZERO,
        })
    }

    /// Time spent inside ONNX Runtime since the last call.
    pub fn take_model_time(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.model_time)
    }

    /// The 106 landmarks of a detected face, in `image` pixels: the average of the model's
    /// points on the face's crop and on its mirror image (the model alone is not symmetric; see
    /// `mirror_average`). For points that mirror exactly with the photo, pass a detection that
    /// does too (`symmetric_detection`).
    pub fn landmarks(&mut self, image: &RgbImage, face: &DetectedFace) -> Result<Landmarks106, InferError> {
        let transform = landmark_crop_transform(&face.bbox, &face.landmarks);
        let crop = warp_similarity(image, &transform, LANDMARK_CROP_SIZE, LANDMARK_CROP_SIZE);
        let direct = self.crop_points(&crop)?;
        let on_flipped = self.crop_points(&mirror_image(&crop))?;
        crop_points_to_image(&mirror_average(&direct, &on_flipped), &transform).ok_or_else(|| InferError::Inference {
            model: self.model.clone(),
            reason: "singular crop transform".into(),
        })
    }

    /// The model's 106 points on one 192×192 crop, in crop pixels.
    fn crop_points(&mut self, crop: &RgbImage) -> Result<Vec<Point>, InferError> {
        let side = LANDMARK_CROP_SIZE as usize;
        let plane = side * side;
        self.blob.clear();
        self.blob.resize(3 * plane, 0.0);
        for (p, px) in crop.as_raw().chunks_exact(3).enumerate() {
            for (c, value) in px.iter().enumerate() {
                self.blob[c * plane + p] = (*value as f32 - self.input_mean) / self.input_std;
            }
        }
        let fail = |reason: String| InferError::Inference { model: self.model.clone(), reason };
        let input =
            TensorRef::from_array_view(([1, 3, side, side], self.blob.as_slice())).map_err(|e| fail(e.to_string()))?;
        let started = std::time::Instant::now();
        let outputs =
            self.session.run(ort::inputs![self.input_name.as_str() => input]).map_err(|e| fail(e.to_string()))?;
        self.model_time += started.elapsed();
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
        crop_points_from_output(data)
            .ok_or_else(|| fail(format!("{} output values, expected at least 212", data.len())))
    }
}
