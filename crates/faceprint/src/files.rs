//! Reading photos from disk with a size limit, and their content hash.

use std::path::Path;

use crate::Error;

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file, refusing one larger than `max_bytes` before reading it (a decompression bomb's
/// cousin: a huge file).
pub(crate) fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|reason| Error::Read { path: path.to_path_buf(), reason })?;
    read_open_limited(file, path, max_bytes)
}

/// Reads an open file (`path` names it in errors): refused from its length when that is over
/// `max_bytes`, and never read past `max_bytes + 1` bytes, so a file that grows while it is
/// read, or a device that never ends, costs no more than the limit.
pub(crate) fn read_open_limited(file: std::fs::File, path: &Path, max_bytes: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let read_error = |reason| Error::Read { path: path.to_path_buf(), reason };
    let too_big = |size| Error::from(faceprint_vision::DecodeError::TooManyBytes { size, limit: max_bytes });
    let length = file.metadata().map_err(read_error)?.len();
    if length > max_bytes {
        return Err(too_big(length));
    }
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}
