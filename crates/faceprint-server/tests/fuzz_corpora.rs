//! Every committed fuzz input (`fuzz/corpus/TARGET/*`) through the function its fuzz target
//! calls, as an ordinary test: a crasher found once stays fixed without building cargo-afl.
//! `scripts/fuzz SECONDS` is for looking for new ones.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "{} holds {} inputs", dir.display(), inputs.len());
    inputs
}

/// Runs every input; names each one that panicked.
fn replay(target: &str, run: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let inputs = corpus(target);
    let failed: Vec<String> = inputs
        .iter()
        .filter(|(_, bytes)| std::panic::catch_unwind(|| run(bytes)).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: {} of {} inputs panicked: {failed:?}", failed.len(), inputs.len());
}

#[test]
fn the_decode_corpus_replays_without_a_panic() {
    replay("decode", faceprint_server::fuzzing::decode_target);
}

#[test]
fn the_request_corpus_replays_without_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    replay("request", |data| faceprint_server::fuzzing::request_target(&runtime, data));
}

#[test]
fn the_import_corpus_replays_without_a_panic() {
    replay("import", faceprint_server::fuzzing::import_target);
}
