//! Many files through every worker in parallel, results handed back in input order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::engine::Stages;
use crate::files::read_limited;
use crate::{Error, FaceEngine, FaceSelect, ImageFaces};

/// Where time went, summed over images.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub decode: Duration,
    /// Inside ONNX Runtime, detector.
    pub detect_model: Duration,
    /// Detector input preparation (resize, normalise) and output decoding, NMS.
    pub detect_other: Duration,
    pub align: Duration,
    /// Inside ONNX Runtime, recogniser.
    pub embed_model: Duration,
    /// Recogniser input preparation and normalisation.
    pub embed_other: Duration,
    /// 106 landmarks (model included), pose fit, eyes and quality measures.
    pub analyse: Duration,
    pub faces: usize,
}

impl std::ops::AddAssign for StageTimes {
    fn add_assign(&mut self, o: Self) {
        self.decode += o.decode;
        self.detect_model += o.detect_model;
        self.detect_other += o.detect_other;
        self.align += o.align;
        self.embed_model += o.embed_model;
        self.embed_other += o.embed_other;
        self.analyse += o.analyse;
        self.faces += o.faces;
    }
}

/// What became of one input file.
#[derive(Debug)]
pub struct FileOutcome {
    pub index: usize,
    pub path: PathBuf,
    pub result: Result<ImageFaces, Error>,
    pub times: StageTimes,
}

/// An input: a file path, or bytes already read (for `-`, standard input).
pub type Input = (PathBuf, Option<Vec<u8>>);

impl FaceEngine {
    /// Runs every input through the pipeline on all workers at once and calls `on_result` for
    /// each, in input order, as soon as it and all before it are done. A failing file does not
    /// stop the others.
    pub fn process_inputs(
        &self,
        inputs: Vec<Input>,
        select: FaceSelect,
        embed: bool,
        on_result: impl FnMut(FileOutcome),
    ) {
        self.process_inputs_through(inputs, select, Stages::from_embed(embed), on_result)
    }

    /// [`FaceEngine::process_inputs`] keeping what enrolment stores: aligned crops and each
    /// image's sha256 ([`FaceEngine::faces_for_enrolment`]).
    pub fn process_inputs_for_enrolment(
        &self,
        inputs: Vec<Input>,
        select: FaceSelect,
        on_result: impl FnMut(FileOutcome),
    ) {
        self.process_inputs_through(inputs, select, Stages::ENROL, on_result)
    }

    /// [`FaceEngine::process_inputs`] for a photo library: every face, with its aligned crop and
    /// its quality (without the landmark model, so it costs what embedding does), the image's
    /// sha256, and a photo without an EXIF orientation tag turned when it has no face or only a
    /// sideways one ([`ImageFaces::rotation`]).
    pub fn process_inputs_for_library(&self, inputs: Vec<Input>, on_result: impl FnMut(FileOutcome)) {
        self.process_inputs_through(inputs, FaceSelect::All, Stages::LIBRARY, on_result)
    }

    /// [`FaceEngine::process_inputs`] with every face analysed ([`FaceEngine::analyse_bytes`]).
    pub fn process_inputs_analysed(&self, inputs: Vec<Input>, select: FaceSelect, on_result: impl FnMut(FileOutcome)) {
        self.process_inputs_through(inputs, select, Stages::ANALYSE, on_result)
    }

    fn process_inputs_through(
        &self,
        inputs: Vec<Input>,
        select: FaceSelect,
        stages: Stages,
        mut on_result: impl FnMut(FileOutcome),
    ) {
        if self.runs_batched(stages) {
            return self.process_batched(inputs, select, stages, on_result);
        }
        let count = inputs.len();
        let inputs: Vec<std::sync::Mutex<Option<Input>>> =
            inputs.into_iter().map(|i| std::sync::Mutex::new(Some(i))).collect();
        let next = AtomicUsize::new(0);
        let (sender, receiver) = mpsc::channel::<FileOutcome>();
        std::thread::scope(|scope| {
            for worker in self.workers.iter().take(count.max(1)) {
                let sender = sender.clone();
                let (next, inputs) = (&next, &inputs);
                scope.spawn(move || {
                    let mut worker = worker.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= count {
                            break;
                        }
                        let Some((path, bytes)) = inputs[index].lock().unwrap_or_else(|e| e.into_inner()).take() else {
                            continue;
                        };
                        let mut times = StageTimes::default();
                        let result = match bytes {
                            Some(bytes) => Ok(bytes),
                            None => read_limited(&path, self.limits.max_bytes),
                        }
                        .and_then(|bytes| self.run_pipeline(&mut worker, &bytes, select, stages, &mut times));
                        if sender.send(FileOutcome { index, path, result, times }).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            // Hand results back in input order, holding only those that arrived early.
            let mut pending = BTreeMap::new();
            let mut expected = 0;
            for outcome in receiver {
                pending.insert(outcome.index, outcome);
                while let Some(outcome) = pending.remove(&expected) {
                    on_result(outcome);
                    expected += 1;
                }
            }
        });
    }

    /// [`FaceEngine::process_inputs`] over file paths, collected.
    pub fn process_files(&self, paths: &[PathBuf], select: FaceSelect, embed: bool) -> Vec<FileOutcome> {
        let mut outcomes = Vec::with_capacity(paths.len());
        self.process_inputs(paths.iter().map(|p| (p.clone(), None)).collect(), select, embed, |o| outcomes.push(o));
        outcomes
    }
}

impl StageTimes {
    /// All time spent, model time included.
    pub fn total(&self) -> Duration {
        self.decode
            + self.detect_model
            + self.detect_other
            + self.align
            + self.embed_model
            + self.embed_other
            + self.analyse
    }
}
