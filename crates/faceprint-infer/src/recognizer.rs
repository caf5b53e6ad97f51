//! ArcFace-style recognisers: a 112×112 aligned crop in, an embedding out.

use std::path::Path;

use faceprint_types::{Embedding, ModelId};
use faceprint_vision::RgbImage;
use faceprint_vision::align::ARCFACE_SIZE;
use ort::session::Session;
use ort::value::TensorRef;

use crate::InferError;
use crate::device::Target;
use crate::runtime::RuntimeOptions;
use crate::session::{input_dims, open_session};

/// How a recogniser's input is normalised and how it is run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognizerConfig {
    /// Identifies the embedding space; embeddings with different ids never compare.
    pub model_id: ModelId,
    /// `(v − mean) / std` per RGB channel value (InsightFace ArcFace models: 127.5 and 127.5).
    pub input_mean: f32,
    pub input_std: f32,
    /// Flip test-time augmentation: add the embedding of the mirrored crop before normalising.
    pub flip: bool,
    /// Crops per ONNX Runtime call.
    pub max_batch: usize,
}

/// One recogniser session. Not `Sync`: one thread at a time.
#[derive(Debug)]
pub struct ArcFaceRecognizer {
    session: Session,
    config: RecognizerConfig,
    input_name: String,
    blob: Vec<f32>,
    /// Time spent inside ONNX Runtime since the last [`Self::take_model_time`].
    model_time: std::time::Duration,
}

impl ArcFaceRecognizer {
    pub fn open(
        path: &Path,
        config: RecognizerConfig,
        threads: usize,
        runtime: &RuntimeOptions,
        target: Target,
    ) -> Result<Self, InferError> {
        let session = open_session(path, threads, runtime, target)?;
        let (input_name, dims) = input_dims(&session, 0).ok_or_else(|| InferError::IncompatibleModel {
            model: config.model_id.to_string(),
            expected: "recogniser (ArcFace, 112x112 input)",
            reason: "no tensor input".into(),
        })?;
        let size = ARCFACE_SIZE as i64;
        if dims.len() != 4 || dims[1] != 3 || dims[2] != size || dims[3] != size {
            return Err(InferError::IncompatibleModel {
                model: config.model_id.to_string(),
                expected: "recogniser (ArcFace, 112x112 input)",
                reason: format!("input shape {dims:?} is not [N, 3, 112, 112]"),
            });
        }
        Ok(Self { session, config, input_name, blob: Vec::new(), model_time: std::time::Duration::ZERO })
    }

    /// Time spent inside ONNX Runtime since the last call, to tell model time from faceprint's
    /// own overhead.
    pub fn take_model_time(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.model_time)
    }

    pub fn config(&self) -> &RecognizerConfig {
        &self.config
    }

    /// Embeddings of aligned 112×112 crops, in order, run in batches.
    pub fn embed(&mut self, crops: &[RgbImage]) -> Result<Vec<Embedding>, InferError> {
        let mut embeddings = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(self.config.max_batch.max(1)) {
            self.embed_batch(chunk, &mut embeddings)?;
        }
        Ok(embeddings)
    }

    fn embed_batch(&mut self, crops: &[RgbImage], out: &mut Vec<Embedding>) -> Result<(), InferError> {
        let views = if self.config.flip { 2 } else { 1 };
        let side = ARCFACE_SIZE as usize;
        let plane = side * side;
        self.blob.clear();
        self.blob.resize(crops.len() * views * 3 * plane, 0.0);
        let (mean, std) = (self.config.input_mean, self.config.input_std);
        for (i, crop) in crops.iter().enumerate() {
            if crop.dimensions() != (ARCFACE_SIZE, ARCFACE_SIZE) {
                return Err(InferError::Inference {
                    model: self.config.model_id.to_string(),
                    reason: format!("crop is {:?}, expected 112x112", crop.dimensions()),
                });
            }
            for view in 0..views {
                let base = (i * views + view) * 3 * plane;
                for (p, px) in crop.as_raw().chunks_exact(3).enumerate() {
                    let (y, x) = (p / side, p % side);
                    let x = if view == 1 { side - 1 - x } else { x };
                    let at = base + y * side + x;
                    self.blob[at] = (px[0] as f32 - mean) / std;
                    self.blob[at + plane] = (px[1] as f32 - mean) / std;
                    self.blob[at + 2 * plane] = (px[2] as f32 - mean) / std;
                }
            }
        }
        let fail = |reason: String| InferError::Inference { model: self.config.model_id.to_string(), reason };
        let shape = [crops.len() * views, 3, side, side];
        let input = TensorRef::from_array_view((shape, self.blob.as_slice())).map_err(|e| fail(e.to_string()))?;
        let started = std::time::Instant::now();
        let outputs =
            self.session.run(ort::inputs![self.input_name.as_str() => input]).map_err(|e| fail(e.to_string()))?;
        self.model_time += started.elapsed();
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
        let rows = crops.len() * views;
        if rows == 0 || data.len() % rows != 0 {
            return Err(fail(format!("{} output values for {rows} inputs", data.len())));
        }
        let dims = data.len() / rows;
        for i in 0..crops.len() {
            let mut raw = data[i * views * dims..(i * views + 1) * dims].to_vec();
            if views == 2 {
                let mirrored = &data[(i * views + 1) * dims..(i * views + 2) * dims];
                raw.iter_mut().zip(mirrored).for_each(|(a, b)| *a += b);
            }
            out.push(Embedding::from_raw(self.config.model_id.clone(), raw));
        }
        Ok(())
    }
}
