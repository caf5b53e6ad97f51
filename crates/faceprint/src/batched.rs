//! The batched pipeline, for a GPU: photos are read, decoded and prepared for the detector on
//! every core while one session runs the detector over many photos at once and the recogniser
//! over the faces of many photos at once. A GPU is starved by one small photo per run; the CPU
//! is not, so the CPU keeps the per-photo pipeline of `batch.rs` unless asked.
//!
//! Same answers as the per-photo pipeline: the same first pass, the same second pass for photos
//! without a face, the same selection and alignment (tested against it).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use faceprint_infer::PreparedInput;
use faceprint_vision::{Decoded, RgbImage, align_to_arcface_112, decode_oriented};

use crate::batch::{FileOutcome, Input, StageTimes};
use crate::engine::{Face, FaceEngine, ImageFaces, Stages};
use crate::files::{read_limited, sha256_hex};
use crate::{Error, FaceSelect};

/// Most photos per detector run and per hand-over between the cores and the session.
const PHOTOS_PER_ROUND: usize = 64;
/// Most decoded pixels held per round: with one round being prepared while the last one runs,
/// this bounds memory (two rounds of 256 MP are 1.5 GB of RGB) whatever the photos' sizes.
const PIXELS_PER_ROUND: u64 = 256_000_000;

/// One photo, read, decoded and prepared for the detector (or why not).
struct Prepared {
    index: usize,
    path: std::path::PathBuf,
    result: Result<(RgbImage, PreparedInput, Option<String>), Error>,
    times: StageTimes,
}

impl FaceEngine {
    /// Whether [`FaceEngine::process_inputs`] and its kin run `stages` batched: on a GPU, or when
    /// asked ([`crate::FaceEngineBuilder::batched`]); dense landmarks and turning sideways photos
    /// need the per-photo pipeline.
    pub(crate) fn runs_batched(&self, stages: Stages) -> bool {
        self.batched && !stages.turn_untagged && !(stages.analyse && stages.dense_landmarks)
    }

    /// The batched pipeline over `inputs`, calling `on_result` in input order.
    pub(crate) fn process_batched(
        &self,
        inputs: Vec<Input>,
        select: FaceSelect,
        stages: Stages,
        mut on_result: impl FnMut(FileOutcome),
    ) {
        let count = inputs.len();
        let inputs: Vec<Mutex<Option<Input>>> = inputs.into_iter().map(|i| Mutex::new(Some(i))).collect();
        let next = AtomicUsize::new(0);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // One round prepared ahead while the session runs the last one.
        let (sender, receiver) = mpsc::sync_channel::<Vec<Prepared>>(1);
        std::thread::scope(|scope| {
            let (inputs, next) = (&inputs, &next);
            scope.spawn(move || {
                while next.load(Ordering::Relaxed) < count {
                    let round = self.prepare_round(inputs, next, cores, stages);
                    if sender.send(round).is_err() {
                        break;
                    }
                }
            });
            let mut worker = self.workers[0].lock().unwrap_or_else(|e| e.into_inner());
            for round in receiver {
                for outcome in self.finish_round(&mut worker, round, select, stages) {
                    on_result(outcome);
                }
            }
        });
    }

    /// Reads, decodes and prepares the next photos on every core, until a round is full.
    fn prepare_round(
        &self,
        inputs: &[Mutex<Option<Input>>],
        next: &AtomicUsize,
        cores: usize,
        stages: Stages,
    ) -> Vec<Prepared> {
        let first = next.load(Ordering::Relaxed);
        let taken = AtomicUsize::new(0);
        let pixels = AtomicU64::new(0);
        let sizing = self.detector_sizing;
        let round = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    while taken.load(Ordering::Relaxed) < PHOTOS_PER_ROUND
                        && pixels.load(Ordering::Relaxed) < PIXELS_PER_ROUND
                    {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= inputs.len() {
                            break;
                        }
                        taken.fetch_add(1, Ordering::Relaxed);
                        let Some((path, bytes)) = inputs[index].lock().unwrap_or_else(|e| e.into_inner()).take() else {
                            continue;
                        };
                        let mut times = StageTimes::default();
                        let started = Instant::now();
                        let result = match bytes {
                            Some(bytes) => Ok(bytes),
                            None => read_limited(&path, self.limits.max_bytes),
                        }
                        .and_then(|bytes| {
                            let sha = stages.hash_source.then(|| sha256_hex(&bytes));
                            let Decoded { image, .. } = decode_oriented(&bytes, &self.limits)?;
                            Ok((image, sha))
                        });
                        times.decode += started.elapsed();
                        let started = Instant::now();
                        let result = result.map(|(image, sha)| {
                            pixels.fetch_add(u64::from(image.width()) * u64::from(image.height()), Ordering::Relaxed);
                            let input = PreparedInput::new(&image, sizing);
                            (image, input, sha)
                        });
                        times.detect_other += started.elapsed();
                        round.lock().unwrap_or_else(|e| e.into_inner()).push(Prepared { index, path, result, times });
                    }
                });
            }
        });
        let mut round = round.into_inner().unwrap_or_else(|e| e.into_inner());
        round.sort_by_key(|p| p.index);
        debug_assert!(round.first().is_none_or(|p| p.index >= first));
        round
    }

    /// Detects over the whole round at once, aligns, embeds every face of the round in batches,
    /// and hands back one outcome per photo, in order.
    fn finish_round(
        &self,
        worker: &mut crate::engine::Worker,
        round: Vec<Prepared>,
        select: FaceSelect,
        stages: Stages,
    ) -> Vec<FileOutcome> {
        let mut outcomes: Vec<FileOutcome> = Vec::with_capacity(round.len());
        let mut photos: Vec<(usize, RgbImage, Option<String>)> = Vec::new();
        let mut prepared = Vec::new();
        for Prepared { index, path, result, times } in round {
            match result {
                Ok((image, input, sha)) => {
                    photos.push((outcomes.len(), image, sha));
                    prepared.push(input);
                    outcomes.push(FileOutcome { index, path, result: Err(Error::NoFace), times });
                }
                Err(e) => outcomes.push(FileOutcome { index, path, result: Err(e), times }),
            }
        }
        let photo_count = photos.len().max(1) as u32;
        let share = |total: Duration| total / photo_count;
        let started = Instant::now();
        let detected = match worker.detector.detect_prepared(&prepared, &self.detect) {
            Ok(found) => found,
            Err(e) => {
                let message = e.to_string();
                for (at, ..) in &photos {
                    outcomes[*at].result = Err(faceprint_infer::InferError::Inference {
                        model: "detector".into(),
                        reason: message.clone(),
                    }
                    .into());
                }
                return outcomes;
            }
        };
        drop(prepared);
        let mut faces_of: Vec<Vec<Face>> = Vec::with_capacity(photos.len());
        let mut crops: Vec<RgbImage> = Vec::new();
        let mut failures: Vec<Option<Error>> = Vec::with_capacity(photos.len());
        let mut align = Duration::ZERO;
        for ((_, image, _), mut found) in photos.iter().zip(detected) {
            // The per-photo pipeline's second pass, for photos where the first found nothing.
            if found.is_empty() && self.detect.second_pass {
                match worker.detector.detect(image, &self.detect) {
                    Ok(again) => found = again,
                    Err(e) => {
                        failures.push(Some(e.into()));
                        faces_of.push(Vec::new());
                        continue;
                    }
                }
            }
            failures.push(None);
            let found = select.apply(found, image.width(), image.height());
            if stages.embed {
                let aligning = Instant::now();
                crops.extend(found.iter().map(|f| align_to_arcface_112(image, &f.landmarks)));
                align += aligning.elapsed();
            }
            faces_of.push(
                found
                    .into_iter()
                    .map(|detection| Face { detection, embedding: None, aligned: None, analysis: None })
                    .collect(),
            );
        }
        let detect_model = worker.detector.take_model_time();
        let detect_other = started.elapsed().saturating_sub(detect_model + align);
        let started = Instant::now();
        let embedded = if stages.embed && !crops.is_empty() { Some(worker.recognizer.embed(&crops)) } else { None };
        let embed_model = worker.recognizer.take_model_time();
        let embed_other = started.elapsed().saturating_sub(embed_model);
        let mut embeddings = match embedded {
            Some(Ok(embeddings)) => Some(embeddings.into_iter()),
            Some(Err(e)) => {
                let message = e.to_string();
                for (at, ..) in &photos {
                    outcomes[*at].result = Err(faceprint_infer::InferError::Inference {
                        model: "recogniser".into(),
                        reason: message.clone(),
                    }
                    .into());
                }
                return outcomes;
            }
            None => None,
        };
        let mut crops = crops.into_iter();
        for (((at, image, sha), mut faces), failure) in photos.into_iter().zip(faces_of).zip(failures) {
            let outcome = &mut outcomes[at];
            outcome.times.detect_model += share(detect_model);
            outcome.times.detect_other += share(detect_other);
            outcome.times.align += share(align);
            outcome.times.embed_model += share(embed_model);
            outcome.times.embed_other += share(embed_other);
            if let Some(error) = failure {
                outcome.result = Err(error);
                continue;
            }
            if let Some(embeddings) = embeddings.as_mut() {
                for face in &mut faces {
                    let (Some(embedding), Some(crop)) = (embeddings.next(), crops.next()) else { break };
                    if stages.analyse {
                        face.analysis = Some(crate::face_analysis::analyse_face(
                            &face.detection,
                            &crop,
                            &embedding,
                            None,
                            (image.width(), image.height()),
                            &self.quality_scales,
                        ));
                    }
                    face.embedding = Some(embedding);
                    face.aligned = stages.keep_crops.then_some(crop);
                }
            }
            outcome.times.faces += faces.len();
            outcome.result =
                Ok(ImageFaces { width: image.width(), height: image.height(), faces, source_sha256: sha, rotation: 0 });
        }
        outcomes
    }
}
