//! The export reader (`faceprint_server::fuzzing::import_target`): lines or a `bad_export` error
//! at a line, never a panic.
fn main() {
    afl::fuzz!(|data: &[u8]| faceprint_server::fuzzing::import_target(data));
}
