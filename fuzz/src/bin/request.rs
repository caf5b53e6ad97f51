//! Request parsing (`faceprint_server::fuzzing::request_target`): the first input byte picks a
//! content type, the next line is a query string, the rest is the body.
fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    afl::fuzz!(|data: &[u8]| faceprint_server::fuzzing::request_target(&runtime, data));
}
