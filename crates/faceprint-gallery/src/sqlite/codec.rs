//! Embeddings as SQLite blobs: little-endian f32, the layout of the vector in memory on every
//! platform we run on, so reading 1M of them is a copy.

use crate::{GalleryError, Result};

pub(crate) fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn decode(blob: &[u8]) -> Result<Vec<f32>> {
    if !blob.len().is_multiple_of(4) {
        return Err(GalleryError::Storage(format!("embedding blob of {} bytes is not f32s", blob.len())));
    }
    Ok(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// Appends a decoded blob to `out` without an intermediate vector.
pub(crate) fn decode_into(blob: &[u8], out: &mut Vec<f32>) {
    out.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let v = vec![0.5, -1.25, 3.0e-7];
        assert_eq!(super::decode(&super::encode(&v)).unwrap(), v);
        assert!(super::decode(&[0, 1, 2]).is_err());
    }
}
