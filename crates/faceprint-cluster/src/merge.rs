//! Average-linkage merging of the seed groups, over the pairs of groups the graph links. The
//! mean similarity of two groups over all their pairs of faces is the dot product of their sums
//! divided by both sizes (the faceprints are unit vectors), so it is exact however large the
//! groups grow, and costs one dot product.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::{ClusterFace, NeighbourGraph, PersonId};

/// A candidate merge, highest mean similarity first.
#[derive(Debug, PartialEq)]
struct Candidate {
    similarity: f32,
    a: u32,
    b: u32,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.similarity.total_cmp(&other.similarity).then_with(|| (other.a, other.b).cmp(&(self.a, self.b)))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct Groups {
    dims: usize,
    /// Row g is the sum of group g's faceprints.
    sums: Vec<f32>,
    sizes: Vec<u32>,
    /// Sorted photo ids of each group.
    photos: Vec<Vec<u64>>,
    persons: Vec<Option<PersonId>>,
    /// Sorted people a face of each group is barred from.
    barred: Vec<Vec<PersonId>>,
    parent: Vec<u32>,
}

impl Groups {
    fn root(&mut self, mut g: u32) -> u32 {
        while self.parent[g as usize] != g {
            let up = self.parent[self.parent[g as usize] as usize];
            self.parent[g as usize] = up;
            g = up;
        }
        g
    }

    fn sum(&self, g: u32) -> &[f32] {
        &self.sums[g as usize * self.dims..(g as usize + 1) * self.dims]
    }

    fn mean_similarity(&self, a: u32, b: u32) -> f32 {
        let dot: f32 = self.sum(a).iter().zip(self.sum(b)).map(|(x, y)| x * y).sum();
        dot / (self.sizes[a as usize] as f32 * self.sizes[b as usize] as f32)
    }

    fn may_merge(&self, a: u32, b: u32) -> bool {
        let (a, b) = (a as usize, b as usize);
        let both_held = self.persons[a].is_some() && self.persons[b].is_some();
        let barred =
            |g: usize, other: usize| self.persons[other].is_some_and(|p| self.barred[g].binary_search(&p).is_ok());
        !both_held && !barred(a, b) && !barred(b, a) && disjoint(&self.photos[a], &self.photos[b])
    }

    /// Merges the two roots; the held one (if any) is the root that remains.
    fn merge(&mut self, a: u32, b: u32) {
        let (keep, gone) = if self.persons[b as usize].is_some() { (b, a) } else { (a, b) };
        let (k, g) = (keep as usize, gone as usize);
        for d in 0..self.dims {
            self.sums[k * self.dims + d] += self.sums[g * self.dims + d];
        }
        self.sizes[k] += self.sizes[g];
        let photos = std::mem::take(&mut self.photos[g]);
        self.photos[k] = merge_sorted(&self.photos[k], &photos);
        let barred = std::mem::take(&mut self.barred[g]);
        self.barred[k] = merge_sorted(&self.barred[k], &barred);
        self.persons[k] = self.persons[k].or(self.persons[g]);
        self.parent[g] = keep;
    }
}

fn disjoint(a: &[u64], b: &[u64]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => return false,
        }
    }
    true
}

fn merge_sorted<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Merges the groups that `label_of` gives while their mean similarity reaches `threshold`;
/// returns each face's final label.
pub(crate) fn average_linkage(
    faces: &[ClusterFace<'_>],
    graph: &NeighbourGraph,
    label_of: Vec<usize>,
    threshold: f32,
) -> Vec<usize> {
    let Some(first) = faces.first() else { return label_of };
    let dims = first.vector.len();
    let mut group_of_label: HashMap<usize, u32> = HashMap::new();
    let group_of: Vec<u32> = label_of
        .iter()
        .map(|&label| {
            let next = group_of_label.len() as u32;
            *group_of_label.entry(label).or_insert(next)
        })
        .collect();
    let count = group_of_label.len();
    let mut groups = Groups {
        dims,
        sums: vec![0.0; count * dims],
        sizes: vec![0; count],
        photos: vec![Vec::new(); count],
        persons: vec![None; count],
        barred: vec![Vec::new(); count],
        parent: (0..count as u32).collect(),
    };
    for (face, &g) in faces.iter().zip(&group_of) {
        let g = g as usize;
        for (sum, x) in groups.sums[g * dims..(g + 1) * dims].iter_mut().zip(face.vector) {
            *sum += x;
        }
        groups.sizes[g] += 1;
        groups.photos[g].push(face.photo);
        groups.persons[g] = groups.persons[g].or(face.held_by);
        groups.barred[g].extend_from_slice(face.barred);
    }
    for list in &mut groups.photos {
        list.sort_unstable();
        list.dedup();
    }
    for list in &mut groups.barred {
        list.sort_unstable();
        list.dedup();
    }
    let mut heap = BinaryHeap::new();
    let mut seen = HashSet::new();
    for face in 0..faces.len() {
        for &(other, similarity) in graph.neighbours(face) {
            let (a, b) = (group_of[face], group_of[other as usize]);
            if similarity >= threshold && a < b && seen.insert((a, b)) {
                heap.push(Candidate { similarity: groups.mean_similarity(a, b), a, b });
            }
        }
    }
    drop(seen);
    while let Some(Candidate { similarity, a, b }) = heap.pop() {
        if similarity < threshold {
            break;
        }
        let (ra, rb) = (groups.root(a), groups.root(b));
        let (ra, rb) = (ra.min(rb), ra.max(rb));
        if ra == rb {
            continue;
        }
        // An entry made before either side merged is stale: a merged group's mean to a third is
        // the weighted mean of its parts', so among the pair's entries the highest bounds it
        // from above when the graph linked both parts to the third. Stale entries are re-scored
        // and re-queued, never acted on.
        let current = groups.mean_similarity(ra, rb);
        if (ra, rb) != (a, b) || current != similarity {
            if current >= threshold {
                heap.push(Candidate { similarity: current, a: ra, b: rb });
            }
            continue;
        }
        if groups.may_merge(ra, rb) {
            groups.merge(ra, rb);
        }
    }
    group_of.iter().map(|&g| groups.root(g) as usize).collect()
}
