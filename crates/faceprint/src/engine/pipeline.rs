//! One photo through the pipeline: decode → detect → select → align → embed (→ analyse),
//! timing each stage, turning a sideways photo upright.

use std::time::Instant;

use faceprint_vision::analysis::landmarks106::{mirror_image, symmetric_detection};
use faceprint_vision::{Decoded, RgbImage, align_to_arcface_112, decode_oriented};

use super::{Face, FaceEngine, ImageFaces, Worker};
use crate::batch::StageTimes;
use crate::files::sha256_hex;
use crate::{Error, FaceSelect};

impl FaceEngine {
    /// decode → detect → select → align → embed, timing each stage.
    pub(crate) fn run_pipeline(
        &self,
        worker: &mut Worker,
        bytes: &[u8],
        select: FaceSelect,
        stages: Stages,
        times: &mut StageTimes,
    ) -> Result<ImageFaces, Error> {
        let source_sha256 = stages.hash_source.then(|| sha256_hex(bytes));
        let started = Instant::now();
        let Decoded { mut image, orientation_tagged } = decode_oriented(bytes, &self.limits)?;
        times.decode += started.elapsed();

        let started = Instant::now();
        let mut detected = worker.detector.detect(&image, &self.detect)?;
        let mut rotation = 0;
        if stages.turn_untagged && !orientation_tagged {
            // A scan or an old camera's photo held sideways says nothing of which way is up.
            // The detector often still finds the face, turned: its landmarks then say which
            // way is up. When it finds nothing, every turn is tried.
            let turns = match detected.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
                None => vec![90, 180, 270],
                Some(best) => Some(turn_to_upright(&best.landmarks)).filter(|&t| t != 0).into_iter().collect(),
            };
            for degrees in turns {
                let turned = turn_clockwise(&image, degrees);
                let found = worker.detector.detect(&turned, &self.detect)?;
                if !found.is_empty() {
                    (image, detected, rotation) = (turned, found, degrees);
                    break;
                }
            }
        }
        let detect_model = worker.detector.take_model_time();
        times.detect_model += detect_model;
        times.detect_other += started.elapsed().saturating_sub(detect_model);
        let detected = select.apply(detected, image.width(), image.height());

        let mut faces: Vec<Face> = detected
            .into_iter()
            .map(|detection| Face { detection, embedding: None, aligned: None, analysis: None })
            .collect();
        if stages.embed && !faces.is_empty() {
            let started = Instant::now();
            let crops: Vec<RgbImage> =
                faces.iter().map(|f| align_to_arcface_112(&image, &f.detection.landmarks)).collect();
            times.align += started.elapsed();
            let started = Instant::now();
            let embeddings = worker.recognizer.embed(&crops)?;
            let embed_model = worker.recognizer.take_model_time();
            times.embed_model += embed_model;
            times.embed_other += started.elapsed().saturating_sub(embed_model);
            // Analysis frames its landmark crops from detections averaged with those of the
            // mirror image, so that pose and landmarks mirror exactly with the photo.
            let on_mirror = if stages.analyse && stages.dense_landmarks && worker.landmarker.is_some() {
                let started = Instant::now();
                let found = worker.detector.detect(&mirror_image(&image), &self.detect)?;
                worker.detector.take_model_time();
                times.analyse += started.elapsed();
                found
            } else {
                Vec::new()
            };
            for ((face, embedding), crop) in faces.iter_mut().zip(embeddings).zip(crops) {
                if stages.analyse {
                    let started = Instant::now();
                    let landmarks = match worker.landmarker.as_mut().filter(|_| stages.dense_landmarks) {
                        Some(landmarker) => {
                            let framing = symmetric_detection(&face.detection, &on_mirror, image.width());
                            Some(landmarker.landmarks(&image, &framing)?)
                        }
                        None => None,
                    };
                    face.analysis = Some(crate::face_analysis::analyse_face(
                        &face.detection,
                        &crop,
                        &embedding,
                        landmarks,
                        (image.width(), image.height()),
                        &self.quality_scales,
                    ));
                    times.analyse += started.elapsed();
                }
                face.embedding = Some(embedding);
                face.aligned = stages.keep_crops.then_some(crop);
            }
        }
        times.faces += faces.len();
        Ok(ImageFaces { width: image.width(), height: image.height(), faces, source_sha256, rotation })
    }
}

/// How far the pipeline runs for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stages {
    pub(crate) embed: bool,
    /// Keep the aligned crops (enrolment and the photo library store them).
    pub(crate) keep_crops: bool,
    /// Hash the encoded image (enrolment stores it; the photo library hashes files itself, before
    /// the pipeline, to skip copies).
    pub(crate) hash_source: bool,
    /// Pose, eyes and quality (needs `embed`).
    pub(crate) analyse: bool,
    /// Analysis runs the 106-point landmark model (pose and eyes need it; quality does not).
    pub(crate) dense_landmarks: bool,
    /// A photo without an EXIF orientation tag is turned when its best face is sideways or
    /// upside down (by its landmarks), or retried at 90°, 180° and 270° when it has no face.
    pub(crate) turn_untagged: bool,
}

impl Stages {
    const NOTHING: Stages = Stages {
        embed: false,
        keep_crops: false,
        hash_source: false,
        analyse: false,
        dense_landmarks: false,
        turn_untagged: false,
    };
    pub(crate) const DETECT: Stages = Stages::NOTHING;
    pub(crate) const EMBED: Stages = Stages { embed: true, ..Stages::NOTHING };
    pub(crate) const ANALYSE: Stages = Stages { embed: true, analyse: true, dense_landmarks: true, ..Stages::NOTHING };
    pub(crate) const ENROL: Stages = Stages { keep_crops: true, hash_source: true, ..Stages::ANALYSE };
    /// A photo library keeps every face's crop and quality, and turns sideways photos; the
    /// quality is the cheap one (no landmark model run), so indexing costs what embedding does.
    pub(crate) const LIBRARY: Stages = Stages { keep_crops: true, analyse: true, turn_untagged: true, ..Stages::EMBED };

    pub(crate) fn from_embed(embed: bool) -> Self {
        if embed { Stages::EMBED } else { Stages::DETECT }
    }
}

/// Degrees clockwise (0, 90, 180 or 270) that bring a face with these landmarks upright: the
/// way from its mouth to its eyes points up the face.
fn turn_to_upright(landmarks: &faceprint_types::Landmarks5) -> u16 {
    let eyes = [(landmarks[0][0] + landmarks[1][0]) / 2.0, (landmarks[0][1] + landmarks[1][1]) / 2.0];
    let mouth = [(landmarks[3][0] + landmarks[4][0]) / 2.0, (landmarks[3][1] + landmarks[4][1]) / 2.0];
    let (up_x, up_y) = (eyes[0] - mouth[0], eyes[1] - mouth[1]);
    match (up_x.abs() > up_y.abs(), up_x > 0.0, up_y > 0.0) {
        // The face's top points right: a quarter turn anticlockwise brings it up.
        (true, true, _) => 270,
        (true, false, _) => 90,
        (false, _, true) => 180,
        (false, _, false) => 0,
    }
}

/// `image` turned clockwise by 0, 90, 180 or 270 degrees.
pub(crate) fn turn_clockwise(image: &RgbImage, degrees: u16) -> RgbImage {
    match degrees {
        90 => image::imageops::rotate90(image),
        180 => image::imageops::rotate180(image),
        270 => image::imageops::rotate270(image),
        _ => image.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::turn_to_upright;

    #[test]
    fn the_turn_that_brings_a_face_upright_is_read_from_its_landmarks() {
        // Eyes at y 40, nose 55, mouth 70: upright.
        let upright = [[40.0, 40.0], [60.0, 40.0], [50.0, 55.0], [42.0, 70.0], [58.0, 70.0]];
        let turned = |f: fn([f32; 2]) -> [f32; 2]| upright.map(f);
        assert_eq!(turn_to_upright(&upright), 0);
        // The photo turned a quarter clockwise (x, y) → (100 − y, x): the face's top points right.
        assert_eq!(turn_to_upright(&turned(|[x, y]| [100.0 - y, x])), 270);
        assert_eq!(turn_to_upright(&turned(|[x, y]| [y, 100.0 - x])), 90);
        assert_eq!(turn_to_upright(&turned(|[x, y]| [100.0 - x, 100.0 - y])), 180);
        // A head tilted 30° is still upright.
        let tilted = upright.map(|[x, y]| [x + 0.58 * (y - 55.0), y]);
        assert_eq!(turn_to_upright(&tilted), 0);
    }
}
