//! Keeping the k best scores of a stream.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::ScoredFace;

#[derive(Debug, Clone, Copy, PartialEq)]
struct ByScore(ScoredFace);

impl Eq for ByScore {}
impl PartialOrd for ByScore {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByScore {
    fn cmp(&self, other: &Self) -> Ordering {
        // Ties broken by id so results are deterministic.
        self.0.similarity.total_cmp(&other.0.similarity).then_with(|| other.0.face_id.cmp(&self.0.face_id))
    }
}

/// The `k` highest scores seen, in a min-heap: a new score costs one comparison unless it
/// beats the worst kept.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<ByScore>>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// The score a candidate must beat to enter.
    #[inline]
    pub(crate) fn floor(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.0.similarity)
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, face: ScoredFace) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Reverse(ByScore(face)));
        } else if self.heap.peek().is_some_and(|worst| ByScore(face) > worst.0) {
            self.heap.pop();
            self.heap.push(Reverse(ByScore(face)));
        }
    }

    /// Best first.
    pub(crate) fn into_sorted(self) -> Vec<ScoredFace> {
        let mut faces: Vec<ByScore> = self.heap.into_iter().map(|r| r.0).collect();
        faces.sort_by(|a, b| b.cmp(a));
        faces.into_iter().map(|b| b.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_k_in_order() {
        let mut top = TopK::new(3);
        for (id, s) in [(1, 0.1), (2, 0.9), (3, 0.5), (4, 0.7), (5, -0.2), (6, 0.8)] {
            top.push(ScoredFace { face_id: id, similarity: s });
        }
        let ids: Vec<_> = top.into_sorted().iter().map(|f| f.face_id).collect();
        assert_eq!(ids, vec![2, 6, 4]);
    }
}
