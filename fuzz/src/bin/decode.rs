//! Image decoding under the server's limits (`faceprint_server::fuzzing::decode_target`).
//! `fuzz_nohook!`: a decoder panic that `decode_image` catches (and turns into `Corrupt`) is its
//! contract, not a crash; one that escapes still aborts.
fn main() {
    afl::fuzz_nohook!(|data: &[u8]| faceprint_server::fuzzing::decode_target(data));
}
