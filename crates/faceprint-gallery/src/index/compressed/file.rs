//! The compressed index saved beside the gallery: its centre and every face's code, so that an
//! open reuses them instead of recomputing, and answers are the same before and after a
//! restart (codes recomputed around a new mean would shortlist slightly differently).
//!
//! Layout, little-endian: `FPCODES1`, dims (u32), words (u32), faces the centre was fitted on
//! (u64), the centre (dims × f32), face count (u64), then per face its id (i64) and code
//! (words × u64).

use std::collections::{HashMap, HashSet};
use std::io::Write;

use super::{CHUNK, CompressedIndex, CompressedParams};
use crate::index::VectorIndex;
use crate::{FaceId, Result};

const MAGIC: &[u8; 8] = b"FPCODES1";

/// Codes read from a saved file.
#[derive(Debug)]
pub struct SavedCodes {
    centre: Vec<f32>,
    fitted_on: usize,
    words: usize,
    rows: HashMap<FaceId, usize>,
    codes: Vec<u64>,
}

/// Reads `N` bytes at `at`, advancing it; `None` past the end.
fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> Option<[u8; N]> {
    let slice = bytes.get(*at..at.checked_add(N)?)?;
    *at += N;
    slice.try_into().ok()
}

impl SavedCodes {
    /// Parses a saved file for vectors of `dims` dimensions; `None` when it is not one (then the
    /// codes are recomputed).
    pub fn parse(bytes: &[u8], dims: usize) -> Option<Self> {
        let mut at = 0;
        if &take::<8>(bytes, &mut at)? != MAGIC {
            return None;
        }
        let saved_dims = u32::from_le_bytes(take(bytes, &mut at)?) as usize;
        let words = u32::from_le_bytes(take(bytes, &mut at)?) as usize;
        let fitted_on = u64::from_le_bytes(take(bytes, &mut at)?) as usize;
        if saved_dims != dims || words != super::SignCoder::new(dims).words() {
            return None;
        }
        let centre = (0..dims).map(|_| take(bytes, &mut at).map(f32::from_le_bytes)).collect::<Option<Vec<_>>>()?;
        let count = u64::from_le_bytes(take(bytes, &mut at)?) as usize;
        // The rest must be exactly `count` records: a truncated or padded file is not trusted.
        if bytes.len().checked_sub(at)? != count.checked_mul(8 * (1 + words))? {
            return None;
        }
        let mut rows = HashMap::with_capacity(count);
        let mut codes = Vec::with_capacity(count * words);
        for row in 0..count {
            rows.insert(i64::from_le_bytes(take(bytes, &mut at)?), row);
            for _ in 0..words {
                codes.push(u64::from_le_bytes(take(bytes, &mut at)?));
            }
        }
        Some(Self { centre, fitted_on, words, rows, codes })
    }

    fn code(&self, id: FaceId) -> Option<&[u64]> {
        self.rows.get(&id).map(|&row| &self.codes[row * self.words..(row + 1) * self.words])
    }
}

impl CompressedIndex {
    /// Writes the centre and every face's code in the saved layout.
    pub fn write_codes(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&(self.dims() as u32).to_le_bytes())?;
        out.write_all(&(self.words() as u32).to_le_bytes())?;
        out.write_all(&(self.fitted_on as u64).to_le_bytes())?;
        for value in &self.centre {
            out.write_all(&value.to_le_bytes())?;
        }
        out.write_all(&(self.len() as u64).to_le_bytes())?;
        for row in 0..self.len() {
            out.write_all(&self.vectors.id_at(row).to_le_bytes())?;
            for word in self.read_code(row) {
                out.write_all(&word.to_le_bytes())?;
            }
        }
        Ok(())
    }

    /// Indexes `items` with the saved centre, reusing each saved code except those of faces in
    /// `changed` (changed since the save: their vectors may differ) and of faces the file does
    /// not have, which are computed.
    pub fn build_from_saved(
        dims: usize,
        params: CompressedParams,
        items: &[(FaceId, &[f32])],
        threads: usize,
        saved: &SavedCodes,
        changed: &HashSet<FaceId>,
    ) -> Result<Self> {
        let mut index = Self::build_vectors(dims, params, items, threads)?;
        index.centre.clone_from(&saved.centre);
        index.fitted_on = saved.fitted_on;
        index.fill_codes(|id| if changed.contains(&id) { None } else { saved.code(id) });
        Ok(index)
    }

    /// Computes the codes of every chunk on all threads, taking a face's code from `known` when
    /// it has one.
    pub(super) fn fill_codes<'a>(&mut self, known: impl Fn(FaceId) -> Option<&'a [u64]> + Sync) {
        let words = self.words();
        let chunks: Vec<usize> = (0..self.len().div_ceil(CHUNK)).collect();
        let encoded = super::parallel_chunks(&chunks, self.threads, |mine| {
            mine.iter().map(|&chunk| self.encode_chunk(chunk, &known)).collect::<Vec<_>>()
        });
        self.codes = Vec::with_capacity(chunks.len() * words * CHUNK);
        encoded.into_iter().flatten().for_each(|planes| self.codes.extend(planes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::compressed::tests::Vectors;

    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        Vectors::new(dims, seed).unit()
    }

    #[test]
    fn saved_codes_rebuild_the_same_index_and_changed_faces_are_recomputed() {
        let dims = 64;
        let mut index = CompressedIndex::new(dims, CompressedParams { rerank: 5, shortlist: 20 });
        for id in 1..=300 {
            index.insert(id, &unit(id as u64, dims)).unwrap();
        }
        let mut bytes = Vec::new();
        index.write_codes(&mut bytes).unwrap();
        let saved = SavedCodes::parse(&bytes, dims).unwrap();

        // Face 7 changed after the save; face 301 is new.
        let mut vectors: Vec<(FaceId, Vec<f32>)> = (1..=300).map(|id| (id, unit(id as u64, dims))).collect();
        vectors[6].1 = unit(999, dims);
        vectors.push((301, unit(301, dims)));
        let items: Vec<(FaceId, &[f32])> = vectors.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        let changed: HashSet<FaceId> = [7].into();
        let loaded = CompressedIndex::build_from_saved(dims, index.params(), &items, 2, &saved, &changed).unwrap();
        assert_eq!(loaded.centre, index.centre, "the saved centre, not a new mean");
        for (row, (id, vector)) in vectors.iter().enumerate() {
            // Every code is what the saved centre gives the current vector.
            assert_eq!(loaded.read_code(row), index.code_of(vector), "face {id}");
        }
        for (id, vector) in &vectors {
            assert_eq!(loaded.search(vector, 1).unwrap()[0].face_id, *id);
        }

        // Damaged files are refused, not half-read.
        assert!(SavedCodes::parse(&bytes[..bytes.len() - 1], dims).is_none());
        assert!(SavedCodes::parse(&bytes, dims + 1).is_none());
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(SavedCodes::parse(&wrong, dims).is_none());
    }
}
