//! The SCRFD face detector (any SCRFD export with keypoints: 500M, 2.5G, 10G, 34G).

use std::path::Path;

use faceprint_types::DetectedFace;
use faceprint_vision::RgbImage;
use faceprint_vision::scrfd::{
    InputGeometry, InputSizing, StrideOutput, decode_outputs, non_maximum_suppression, prepare_input,
};
use fast_image_resize::Resizer;
use ort::session::Session;
use ort::value::TensorRef;

use crate::InferError;
use crate::device::Target;
use crate::runtime::RuntimeOptions;
use crate::session::{input_dims, open_session};

/// Margin (fraction of the longer side, all round) of the second pass over small photos.
/// Measured on ORL's tightly framed 92×112 faces: 0.25 finds faces in 13 photos where the
/// first pass found none.
const SECOND_PASS_MARGIN: f32 = 0.25;

/// SCRFD's feature-map strides, finest first.
const STRIDES: [u32; 5] = [8, 16, 32, 64, 128];

/// How faces are detected. `Default` gives InsightFace's thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// Minimum detector score (InsightFace: 0.5).
    pub score_threshold: f32,
    /// Overlap above which the weaker of two detections is dropped (InsightFace: 0.4).
    pub nms_threshold: f32,
    /// Faces whose box is narrower or shorter than this, in original pixels, are dropped.
    pub min_face_size: f32,
    /// Keep at most this many faces, best scores first.
    pub max_faces: Option<usize>,
    /// Detector input size for each image.
    pub sizing: InputSizing,
    /// When nothing is found, run once more at another scale (upscaled for small photos, finer
    /// for large ones).
    pub second_pass: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            score_threshold: 0.5,
            nms_threshold: 0.4,
            min_face_size: 0.0,
            max_faces: None,
            // Measured on LFW DevTest (BENCHMARKS.md): enlarging 250×250 photos to 480 gives
            // better landmarks and +0.3% verification accuracy over their native size.
            sizing: InputSizing::Adaptive { min_side: 480, max_side: 640 },
            second_pass: true,
        }
    }
}

/// One SCRFD session. Not `Sync`: one thread at a time.
#[derive(Debug)]
pub struct ScrfdDetector {
    session: Session,
    model: String,
    input_name: String,
    /// Set when the export has a fixed spatial input size.
    fixed_input: Option<(u32, u32)>,
    resizer: Resizer,
    blob: Vec<f32>,
    /// Time spent inside ONNX Runtime since the last [`Self::take_model_time`].
    model_time: std::time::Duration,
}

impl ScrfdDetector {
    pub fn open(path: &Path, threads: usize, runtime: &RuntimeOptions, target: Target) -> Result<Self, InferError> {
        let session = open_session(path, threads, runtime, target)?;
        let model = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let incompatible =
            |reason: String| InferError::IncompatibleModel { model: model.clone(), expected: "SCRFD detector", reason };
        let (input_name, dims) = input_dims(&session, 0).ok_or_else(|| incompatible("no tensor input".into()))?;
        if dims.len() != 4 || dims[1] != 3 {
            return Err(incompatible(format!("input shape {dims:?} is not [N, 3, H, W]")));
        }
        if session.outputs().len() % 3 != 0 || session.outputs().len() < 6 {
            return Err(incompatible(format!(
                "{} outputs; SCRFD with keypoints has scores, boxes and keypoints per stride (9 or 15)",
                session.outputs().len()
            )));
        }
        let fixed_input = (dims[2] > 0 && dims[3] > 0).then(|| (dims[3] as u32, dims[2] as u32));
        Ok(Self {
            session,
            model,
            input_name,
            fixed_input,
            resizer: Resizer::new(),
            blob: Vec::new(),
            model_time: std::time::Duration::ZERO,
        })
    }

    /// Time spent inside ONNX Runtime since the last call, to tell model time from faceprint's
    /// own overhead.
    pub fn take_model_time(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.model_time)
    }

    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// Every face in `image`, best score first, in original-image pixels.
    pub fn detect(&mut self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<DetectedFace>, InferError> {
        let (width, height) = image.dimensions();
        let sizing = self.effective_sizing(options.sizing);
        let geometry = sizing.plan(width, height);
        let mut faces = self.run_pass(image, &geometry, options)?;
        if faces.is_empty() && options.second_pass && self.fixed_input.is_none() {
            let retry = match sizing {
                // Shrunk to fit: look again at twice the resolution, for small faces.
                InputSizing::Adaptive { max_side, .. } if geometry.resized_width < width => {
                    InputSizing::Adaptive { min_side: max_side * 2, max_side: max_side * 2 }.plan(width, height)
                }
                // A small photo: perhaps a tight face crop; look again with a margin around it.
                InputSizing::Adaptive { max_side, .. } => {
                    InputGeometry::with_margin(width, height, max_side, SECOND_PASS_MARGIN)
                }
                InputSizing::Fixed { width: w, height: h } => {
                    let side = w.max(h) * 2;
                    InputSizing::Adaptive { min_side: side, max_side: side }.plan(width, height)
                }
            };
            if retry != geometry {
                faces = self.run_pass(image, &retry, options)?;
            }
        }
        Ok(faces)
    }

    fn effective_sizing(&self, requested: InputSizing) -> InputSizing {
        match self.fixed_input {
            Some((width, height)) => InputSizing::Fixed { width, height },
            None => requested,
        }
    }

    fn run_pass(
        &mut self,
        image: &RgbImage,
        geometry: &InputGeometry,
        options: &DetectOptions,
    ) -> Result<Vec<DetectedFace>, InferError> {
        prepare_input(image, geometry, &mut self.resizer, &mut self.blob);
        let blob = std::mem::take(&mut self.blob);
        let found = self.run_batch(&blob, std::slice::from_ref(geometry), options);
        self.blob = blob;
        Ok(found?.pop().unwrap_or_default())
    }

    /// The input size this detector's first pass uses for `requested` (a model with a fixed
    /// input size has only that one).
    pub fn input_sizing(&self, requested: InputSizing) -> InputSizing {
        self.effective_sizing(requested)
    }

    /// The faces of several prepared images, one model run per group of equal input size (all
    /// of them at a fixed detector size; photos of one size and shape at the adaptive one).
    /// Same answers as [`Self::detect`]'s first pass, image by image.
    pub fn detect_prepared(
        &mut self,
        inputs: &[PreparedInput],
        options: &DetectOptions,
    ) -> Result<Vec<Vec<DetectedFace>>, InferError> {
        let mut found = vec![Vec::new(); inputs.len()];
        let mut groups: Vec<((u32, u32), Vec<usize>)> = Vec::new();
        for (index, input) in inputs.iter().enumerate() {
            let canvas = (input.geometry.canvas_width, input.geometry.canvas_height);
            match groups.iter_mut().find(|(size, _)| *size == canvas) {
                Some((_, members)) => members.push(index),
                None => groups.push((canvas, vec![index])),
            }
        }
        for (_, members) in groups {
            self.blob.clear();
            for &index in &members {
                self.blob.extend_from_slice(&inputs[index].blob);
            }
            let blob = std::mem::take(&mut self.blob);
            let geometries: Vec<InputGeometry> = members.iter().map(|&i| inputs[i].geometry).collect();
            let faces = self.run_batch(&blob, &geometries, options);
            self.blob = blob;
            for (index, faces) in members.into_iter().zip(faces?) {
                found[index] = faces;
            }
        }
        Ok(found)
    }

    /// One model run over `blob`: images of one canvas size, one after the other, with their
    /// geometries.
    fn run_batch(
        &mut self,
        blob: &[f32],
        geometries: &[InputGeometry],
        options: &DetectOptions,
    ) -> Result<Vec<Vec<DetectedFace>>, InferError> {
        let Some(first) = geometries.first() else {
            return Ok(Vec::new());
        };
        let images = geometries.len();
        let shape = [images, 3, first.canvas_height as usize, first.canvas_width as usize];
        let fail = |reason: String| InferError::Inference { model: self.model.clone(), reason };
        let input = TensorRef::from_array_view((shape, blob)).map_err(|e| fail(e.to_string()))?;
        let started = std::time::Instant::now();
        let outputs =
            self.session.run(ort::inputs![self.input_name.as_str() => input]).map_err(|e| fail(e.to_string()))?;
        self.model_time += started.elapsed();
        let mut tensors: Vec<(usize, &[f32])> = Vec::with_capacity(outputs.len());
        for index in 0..outputs.len() {
            let (shape, data) = outputs[index].try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
            let channels = *shape.last().unwrap_or(&1) as usize;
            // Exports without a batch axis cannot take more than one image at a time.
            if data.len() % (channels.max(1) * images) != 0 {
                return Err(fail(format!("output {index} does not split into {images} images")));
            }
            tensors.push((channels, data));
        }
        let mut found = Vec::with_capacity(images);
        for (image, geometry) in geometries.iter().enumerate() {
            let per_image: Vec<(usize, usize, &[f32])> = tensors
                .iter()
                .map(|&(channels, data)| {
                    let len = data.len() / images;
                    (channels, len / channels.max(1), &data[image * len..(image + 1) * len])
                })
                .collect();
            let levels = group_levels(&per_image, geometry).map_err(|reason| InferError::IncompatibleModel {
                model: self.model.clone(),
                expected: "SCRFD detector",
                reason,
            })?;
            let candidates = decode_outputs(&levels.0, geometry, levels.1, options.score_threshold);
            let mut faces = non_maximum_suppression(candidates, options.nms_threshold);
            faces.retain(|f| f.bbox.width().min(f.bbox.height()) >= options.min_face_size);
            if let Some(max) = options.max_faces {
                faces.truncate(max);
            }
            found.push(faces);
        }
        Ok(found)
    }
}

/// One image's detector input: made on any thread (decoding and preparing photos on every core
/// while one session runs the model), then run in batches by [`ScrfdDetector::detect_prepared`].
#[derive(Debug, Clone)]
pub struct PreparedInput {
    geometry: InputGeometry,
    blob: Vec<f32>,
}

impl PreparedInput {
    /// `image` at the size `sizing` plans for it ([`ScrfdDetector::input_sizing`]).
    pub fn new(image: &RgbImage, sizing: InputSizing) -> Self {
        let geometry = sizing.plan(image.width(), image.height());
        let mut blob = Vec::new();
        prepare_input(image, &geometry, &mut Resizer::new(), &mut blob);
        Self { geometry, blob }
    }
}

/// Sorts raw outputs into stride levels by their shapes rather than their order or names, which
/// differ between exports: channels 1/4/10 are scores/boxes/keypoints, and finer strides have
/// more rows.
fn group_levels<'a>(
    tensors: &[(usize, usize, &'a [f32])],
    geometry: &InputGeometry,
) -> Result<(Vec<StrideOutput<'a>>, usize), String> {
    let of_channels = |c: usize| {
        let mut v: Vec<(usize, &'a [f32])> = tensors.iter().filter(|t| t.0 == c).map(|t| (t.1, t.2)).collect();
        v.sort_by_key(|t| std::cmp::Reverse(t.0));
        v
    };
    let (scores, boxes, keypoints) = (of_channels(1), of_channels(4), of_channels(10));
    if scores.is_empty() || scores.len() != boxes.len() || scores.len() != keypoints.len() {
        return Err(format!(
            "expected scores, boxes and 5 keypoints per stride, got output widths {:?}",
            tensors.iter().map(|t| t.0).collect::<Vec<_>>()
        ));
    }
    let cells = |stride: u32| (geometry.canvas_width / stride) as usize * (geometry.canvas_height / stride) as usize;
    let anchors = scores[0].0 / cells(STRIDES[0]).max(1);
    let mut levels = Vec::with_capacity(scores.len());
    for (i, ((rows, s), ((_, b), (_, k)))) in scores.iter().zip(boxes.iter().zip(&keypoints)).enumerate() {
        let stride = *STRIDES.get(i).ok_or("more stride levels than SCRFD has")?;
        if anchors == 0 || *rows != cells(stride) * anchors {
            return Err(format!(
                "stride {stride} has {rows} rows, expected {} cells × {anchors} anchors",
                cells(stride)
            ));
        }
        levels.push(StrideOutput { stride, scores: s, boxes: b, keypoints: k });
    }
    Ok((levels, anchors))
}
