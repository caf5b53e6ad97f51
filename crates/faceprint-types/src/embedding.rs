use serde::{Deserialize, Serialize};

/// Which recognition model produced an embedding. Embeddings of different models live in
/// different spaces and must never be compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(pub String);

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An L2-normalised face embedding (a "faceprint") with the norm it had before normalising,
/// which grows with face quality and is kept as a quality signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub model: ModelId,
    pub vector: Vec<f32>,
    pub raw_norm: f32,
}

impl Embedding {
    /// Normalises `raw` to unit length. A zero vector stays zero (similarity 0 to everything).
    pub fn from_raw(model: ModelId, mut raw: Vec<f32>) -> Self {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            raw.iter_mut().for_each(|v| *v /= norm);
        }
        Self { model, vector: raw, raw_norm: norm }
    }

    pub fn dims(&self) -> usize {
        self.vector.len()
    }

    /// Cosine similarity; `None` when the two come from different models or sizes.
    pub fn similarity(&self, other: &Embedding) -> Option<f32> {
        (self.model == other.model && self.dims() == other.dims())
            .then(|| cosine_similarity(&self.vector, &other.vector))
    }
}

/// Cosine similarity of two unit vectors (their dot product). Panics in debug builds on a
/// length mismatch, which is a programming error.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_raw_normalises_and_keeps_the_norm() {
        let e = Embedding::from_raw(ModelId("m".into()), vec![3.0, 4.0]);
        assert_eq!(e.raw_norm, 5.0);
        assert!((e.vector[0] - 0.6).abs() < 1e-6 && (e.vector[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn embeddings_of_different_models_do_not_compare() {
        let a = Embedding::from_raw(ModelId("a".into()), vec![1.0, 0.0]);
        let b = Embedding::from_raw(ModelId("b".into()), vec![1.0, 0.0]);
        assert_eq!(a.similarity(&b), None);
        assert_eq!(a.similarity(&a), Some(1.0));
    }
}
