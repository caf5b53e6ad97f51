//! Chinese whispers (Biemann 2006) on the graph's confident edges: each face takes the label
//! with the most similarity among its neighbours, pass after pass, in a seeded random order.
//! Constrained: a face never takes a label that holds another face of its photo, or a person it
//! is barred from; held faces never change label.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::{ClusterFace, ClusterParams, NeighbourGraph, PersonId};

/// Which labels hold which photos and which person; kept in step with the labels.
struct Labels<'f, 'a> {
    faces: &'f [ClusterFace<'a>],
    label_of: Vec<usize>,
    /// (label, photo) → faces of that photo under that label.
    photos: HashMap<(usize, u64), u32>,
    person_of_label: HashMap<usize, PersonId>,
}

impl<'f, 'a> Labels<'f, 'a> {
    fn new(faces: &'f [ClusterFace<'a>]) -> Self {
        // Every held face of a person starts (and stays) under the label of its first face.
        let mut label_of_person: HashMap<PersonId, usize> = HashMap::new();
        let label_of: Vec<usize> = faces
            .iter()
            .enumerate()
            .map(|(i, f)| f.held_by.map_or(i, |p| *label_of_person.entry(p).or_insert(i)))
            .collect();
        let mut photos = HashMap::new();
        for (face, &label) in faces.iter().zip(&label_of) {
            *photos.entry((label, face.photo)).or_insert(0) += 1;
        }
        let person_of_label = label_of_person.into_iter().map(|(person, label)| (label, person)).collect();
        Self { faces, label_of, photos, person_of_label }
    }

    /// Whether `face` may carry `label`.
    fn allows(&self, face: usize, label: usize) -> bool {
        let f = &self.faces[face];
        let own = usize::from(self.label_of[face] == label) as u32;
        let same_photo = self.photos.get(&(label, f.photo)).copied().unwrap_or(0) > own;
        let barred = self.person_of_label.get(&label).is_some_and(|p| f.barred.contains(p));
        !same_photo && !barred
    }

    fn relabel(&mut self, face: usize, label: usize) {
        let photo = self.faces[face].photo;
        let old = std::mem::replace(&mut self.label_of[face], label);
        if let Some(count) = self.photos.get_mut(&(old, photo)) {
            *count -= 1;
            if *count == 0 {
                self.photos.remove(&(old, photo));
            }
        }
        *self.photos.entry((label, photo)).or_insert(0) += 1;
    }
}

/// A label per face (a face's own index when it joined nobody).
pub(crate) fn chinese_whispers(
    faces: &[ClusterFace<'_>],
    graph: &NeighbourGraph,
    params: &ClusterParams,
) -> Vec<usize> {
    let mut labels = Labels::new(faces);
    let mut order: Vec<usize> = (0..faces.len()).filter(|&i| faces[i].held_by.is_none()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
    let mut votes: HashMap<usize, f32> = HashMap::new();
    for _ in 0..params.rounds {
        order.shuffle(&mut rng);
        let mut changed = 0;
        for &face in &order {
            votes.clear();
            for &(other, similarity) in graph.neighbours(face) {
                if similarity >= params.seed_similarity {
                    *votes.entry(labels.label_of[other as usize]).or_insert(0.0) += similarity;
                }
            }
            // The heaviest allowed label; ties go to the lowest label so the result does not
            // depend on the map's order.
            let best = votes
                .iter()
                .filter(|&(&label, _)| labels.allows(face, label))
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&label, _)| label);
            let current = labels.label_of[face];
            // Every move is checked, so the current label never holds a conflict: with no allowed
            // neighbour label the face stays where it is.
            let target = best.unwrap_or(current);
            if target != current {
                labels.relabel(face, target);
                changed += 1;
            }
        }
        if changed == 0 {
            break;
        }
    }
    labels.label_of
}
