//! Image decoding under the server's limits: any bytes give an image or a `DecodeError`, never a
//! panic out of `decode_image`. `fuzz_nohook!`: a decoder panic that `decode_image` catches (and
//! turns into `Corrupt`) is its contract, not a crash; one that escapes still aborts.
fn main() {
    let limits = faceprint::DecodeLimits::server();
    afl::fuzz_nohook!(|data: &[u8]| {
        if let Ok(image) = faceprint::imaging::decode_image(data, &limits) {
            assert!(image.width() as u64 * image.height() as u64 <= limits.max_pixels);
        }
    });
}
