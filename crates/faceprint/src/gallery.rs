//! The engine and a gallery together: enrol faces, identify (1:N, open set), verify against an
//! enrolled subject (1:1), and move a gallery to another model.

use faceprint_gallery::{AddedFace, Candidate, Gallery, GalleryError, NewFace, Subject, SubjectKey};
use faceprint_types::DetectedFace;
use faceprint_vision::RgbImage;
use faceprint_vision::analysis::{QualityGate, QualityIssue, QualityReport};
use image::ImageEncoder;

use crate::{Error, FaceAnalysis, FaceEngine, FaceSelect, ImageFaces};

/// The smallest face enrolment accepts by default: the shorter side of the detection box, in
/// pixels. Below about 32 px the 112×112 crop is mostly upsampling and ArcFace embeddings of
/// such faces match poorly.
pub const MIN_ENROL_FACE_PX: f32 = 32.0;
/// The lowest detection score enrolment accepts by default: the detector's own default
/// threshold. Real frontal faces can score little above it (tight grey ORL crops score
/// 0.51–0.60), so a higher bar refuses good templates; it matters when detection runs with a
/// lower `--det-threshold` to find more faces than should be enrolled.
pub const MIN_ENROL_DETECTION_SCORE: f32 = 0.5;

/// What enrolment accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrolPolicy {
    /// [`FaceSelect::All`] requires exactly one face in the image; `Largest` and `Center` pick one.
    pub select: FaceSelect,
    pub min_detection_score: f32,
    /// Shorter side of the face box, pixels.
    pub min_face_size: f32,
    /// The quality gate (default: refuses the rules with evidence behind them, warns of the
    /// others); `None` forces enrolment of whatever passes the checks above.
    pub quality_gate: Option<QualityGate>,
}

impl Default for EnrolPolicy {
    fn default() -> Self {
        Self {
            select: FaceSelect::All,
            min_detection_score: MIN_ENROL_DETECTION_SCORE,
            min_face_size: MIN_ENROL_FACE_PX,
            quality_gate: Some(QualityGate::default()),
        }
    }
}

/// A face that went into the gallery (or was already there: `added.duplicate`).
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub subject: Subject,
    pub added: AddedFace,
    pub detection: DetectedFace,
    /// The face's analysis (quality, pose, eyes) when the engine made one.
    pub analysis: Option<FaceAnalysis>,
    /// What the quality gate found wrong with the face without refusing it (empty when the
    /// gate is off).
    pub warnings: Vec<QualityIssue>,
}

/// One face of a probe image and who it may be.
#[derive(Debug, Clone)]
pub struct IdentifiedFace {
    pub detection: DetectedFace,
    /// The top-k subjects, best first, whatever their score.
    pub candidates: Vec<Candidate>,
    /// The best candidate when it reaches the engine's identification threshold; `None`: unknown.
    pub matched: Option<Candidate>,
    /// The probe face's quality, when it was analysed: a low score explains a weak match.
    pub quality: Option<QualityReport>,
    /// The similarity the best candidate had to reach: set for the collection's size (see
    /// [`FaceEngine::identify_rule`]).
    pub threshold: f32,
}

/// A probe face against one enrolled subject.
#[derive(Debug, Clone)]
pub struct SubjectVerdict {
    pub subject: Subject,
    pub detection: DetectedFace,
    /// Similarity to the subject's best template; `None` when the subject has no faces.
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub same: bool,
    /// The probe face's quality, when it was analysed.
    pub quality: Option<QualityReport>,
}

/// The subject named `name` in `collection`, created (with empty metadata) if missing. Two
/// enrolments racing to create it both end up with the same subject.
pub fn ensure_subject(gallery: &dyn Gallery, collection: &str, name: &str) -> Result<Subject, Error> {
    let key = SubjectKey::Name(name.to_owned());
    match gallery.subject(collection, &key) {
        Err(GalleryError::UnknownSubject(_)) => {}
        other => return Ok(other?),
    }
    match gallery.create_subject(collection, name, serde_json::json!({})) {
        Err(GalleryError::DuplicateSubject(_)) => Ok(gallery.subject(collection, &key)?),
        other => Ok(other?),
    }
}

/// A face id and its new embedding.
type FaceVector = (faceprint_gallery::FaceId, Vec<f32>);

/// PNG, lossless: re-embedding from the stored crop must give the embedding it would have
/// given at enrolment.
pub(crate) fn encode_png(crop: &RgbImage) -> Result<Vec<u8>, Error> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(crop.as_raw(), crop.width(), crop.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Config(format!("encoding a face crop: {e}")))?;
    Ok(png)
}

fn decode_png(png: &[u8]) -> Result<RgbImage, Error> {
    let crop = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| Error::Config(format!("a stored face crop does not decode: {e}")))?
        .to_rgb8();
    if crop.dimensions() != (112, 112) {
        return Err(Error::Config(format!("a stored face crop is {}×{}, not 112×112", crop.width(), crop.height())));
    }
    Ok(crop)
}

impl FaceEngine {
    /// Enrols the one acceptable face of an image (from [`FaceEngine::faces_for_enrolment`])
    /// under `subject`. A subject given by name is created if needed; one given by id must still
    /// exist when the face is added (checked inside the add's transaction, so a subject renamed
    /// meanwhile keeps the face, and one deleted meanwhile is `UnknownSubject`).
    pub fn enrol_faces(
        &self,
        gallery: &dyn Gallery,
        collection: &str,
        subject: &SubjectKey,
        faces: ImageFaces,
        policy: &EnrolPolicy,
    ) -> Result<Enrolled, Error> {
        let count = faces.faces.len();
        if count > 1 {
            return Err(Error::MultipleFaces { count });
        }
        let face = faces.faces.into_iter().next().ok_or(Error::NoFace)?;
        let detection = face.detection;
        if detection.score < policy.min_detection_score {
            return Err(Error::LowDetectionScore { score: detection.score, min: policy.min_detection_score });
        }
        let size = detection.bbox.width().min(detection.bbox.height());
        if size < policy.min_face_size {
            return Err(Error::FaceTooSmall { size, min: policy.min_face_size });
        }
        let mut warnings = Vec::new();
        if let Some(gate) = &policy.quality_gate {
            let analysis = face.analysis.as_ref().ok_or_else(|| {
                Error::Config("the quality gate needs analysed faces (from faces_for_enrolment)".into())
            })?;
            let verdict = gate.check(&analysis.quality, analysis.pose, analysis.eyes);
            if !verdict.accepted() {
                return Err(Error::LowQuality { issues: verdict.refused, score: analysis.quality.score });
            }
            warnings = verdict.warnings;
        }
        let analysis = face.analysis;
        let (Some(embedding), Some(crop), Some(sha)) = (face.embedding, face.aligned, faces.source_sha256) else {
            return Err(Error::Config("enrolment needs faces from faces_for_enrolment".into()));
        };
        let new_face = NewFace {
            model: embedding.model,
            embedding: embedding.vector,
            detection_score: detection.score,
            bbox: detection.bbox,
            image_sha256: sha,
            crop_png: Some(encode_png(&crop)?),
        };
        // Checked before the subject is created, so a refused face leaves no empty subject
        // behind (add_face checks again, inside its transaction).
        if let Some((model, _)) = gallery.model()?
            && model != new_face.model
            && gallery.stats()?.faces > 0
        {
            return Err(GalleryError::ModelMismatch { gallery: model.0, given: new_face.model.0 }.into());
        }
        let id = match subject {
            SubjectKey::Name(name) => ensure_subject(gallery, collection, name)?.id,
            SubjectKey::Id(id) => *id,
        };
        let added = gallery.add_face(collection, &SubjectKey::Id(id), new_face)?;
        let subject = gallery.subject(collection, &SubjectKey::Id(added.subject_id))?;
        Ok(Enrolled { subject, added, detection, analysis, warnings })
    }

    /// Detects, checks and enrols the face of an encoded image.
    pub fn enrol_bytes(
        &self,
        gallery: &dyn Gallery,
        collection: &str,
        subject: &SubjectKey,
        bytes: &[u8],
        policy: &EnrolPolicy,
    ) -> Result<Enrolled, Error> {
        let faces = self.faces_for_enrolment(bytes, policy.select)?;
        self.enrol_faces(gallery, collection, subject, faces, policy)
    }

    /// Every face of a probe image (with embeddings) against the gallery: top `k` subjects each,
    /// and a match when the best reaches the identification threshold at the collection's size
    /// ([`FaceEngine::identify_threshold_for`]).
    pub fn identify_faces(
        &self,
        gallery: &dyn Gallery,
        collection: &str,
        faces: &ImageFaces,
        k: usize,
    ) -> Result<Vec<IdentifiedFace>, Error> {
        let mut queries = Vec::with_capacity(faces.faces.len());
        for face in &faces.faces {
            let embedding =
                face.embedding.as_ref().ok_or_else(|| Error::Config("identification needs embeddings".into()))?;
            queries.push(embedding.vector.clone());
        }
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let answers = gallery.search_batch(collection, self.model_id(), &queries, k)?;
        let threshold = self.identify_threshold_for(gallery.collection_faces(collection)?);
        Ok(faces
            .faces
            .iter()
            .zip(answers)
            .map(|(face, candidates)| {
                let matched = candidates.first().filter(|best| best.similarity >= threshold).cloned();
                IdentifiedFace {
                    detection: face.detection.clone(),
                    candidates,
                    matched,
                    quality: face.analysis.as_ref().map(|a| a.quality),
                    threshold,
                }
            })
            .collect())
    }

    /// Detects and identifies every face of an encoded image.
    pub fn identify_bytes(
        &self,
        gallery: &dyn Gallery,
        collection: &str,
        bytes: &[u8],
        k: usize,
    ) -> Result<Vec<IdentifiedFace>, Error> {
        let faces = self.analyse_bytes(bytes, FaceSelect::All)?;
        self.identify_faces(gallery, collection, &faces, k)
    }

    /// The first face of `faces` (choose it with a [`FaceSelect`]) against one subject's best
    /// template.
    pub fn verify_against(
        &self,
        gallery: &dyn Gallery,
        collection: &str,
        subject: &SubjectKey,
        faces: &ImageFaces,
    ) -> Result<SubjectVerdict, Error> {
        let embedding = faces.embedding(0)?;
        let detection = faces.faces[0].detection.clone();
        let quality = faces.faces[0].analysis.as_ref().map(|a| a.quality);
        let (subject, best) = gallery.subject_similarity(collection, subject, self.model_id(), &embedding.vector)?;
        let similarity = best.map(|b| b.similarity);
        let threshold = self.threshold();
        Ok(SubjectVerdict {
            subject,
            detection,
            similarity,
            threshold,
            same: similarity.is_some_and(|s| s >= threshold),
            quality,
        })
    }

    /// Re-embeds every face of the gallery from its stored crop with this engine's recogniser,
    /// then swaps all embeddings and the gallery's model in one transaction. Calls `progress`
    /// with (done, total) along the way. Returns the number of faces moved.
    pub fn reembed(&self, gallery: &dyn Gallery, mut progress: impl FnMut(usize, usize)) -> Result<usize, Error> {
        /// Crops decoded and embedded per round: enough to keep every worker busy.
        const ROUND: usize = 256;
        let total = gallery.stats()?.faces;
        let mut missing = 0;
        let mut pending: Vec<(i64, Vec<u8>)> = Vec::with_capacity(ROUND);
        let mut embeddings = Vec::with_capacity(total);
        let mut failure = None;
        gallery
            .for_each_face(&mut |full| {
                match full.crop_png {
                    Some(png) => pending.push((full.face.id, png)),
                    None => missing += 1,
                }
                if pending.len() == ROUND {
                    match self.embed_crops(std::mem::take(&mut pending)) {
                        Ok(done) => embeddings.extend(done),
                        Err(e) => {
                            failure = Some(e);
                            return Err(GalleryError::Invalid("re-embedding stopped".into()));
                        }
                    }
                    progress(embeddings.len(), total);
                }
                Ok(())
            })
            .map_err(|e| failure.take().unwrap_or(Error::Gallery(e)))?;
        if missing > 0 {
            return Err(Error::MissingCrops { count: missing });
        }
        embeddings.extend(self.embed_crops(pending)?);
        progress(embeddings.len(), total);
        let moved = embeddings.len();
        gallery.replace_model(self.model_id(), embeddings)?;
        Ok(moved)
    }

    /// Decodes and embeds stored crops on every worker.
    fn embed_crops(&self, crops: Vec<(i64, Vec<u8>)>) -> Result<Vec<FaceVector>, Error> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let per_worker = crops.len().div_ceil(self.workers.len());
        let results: Vec<Result<Vec<FaceVector>, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = crops
                .chunks(per_worker)
                .zip(&self.workers)
                .map(|(part, worker)| {
                    scope.spawn(move || {
                        let images = part.iter().map(|(_, png)| decode_png(png)).collect::<Result<Vec<_>, _>>()?;
                        let mut worker = worker.lock().unwrap_or_else(|e| e.into_inner());
                        let embedded = worker.recognizer.embed(&images)?;
                        Ok(part.iter().map(|(id, _)| *id).zip(embedded.into_iter().map(|e| e.vector)).collect())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("embedding thread panicked")).collect()
        });
        Ok(results.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }
}
