//! `faceprint bench …`: each benchmark measures faceprint side by side with a reference in one
//! run (BENCHMARKS.md). Benchmarks reach below the stable API where they measure internals.

pub(crate) mod cluster;
pub(crate) mod hostile;
pub(crate) mod indexes;
pub(crate) mod library;
pub(crate) mod measure;
pub(crate) mod pipeline;
pub(crate) mod recognition;
pub(crate) mod search;
pub(crate) mod serve;
pub(crate) mod stores;
