//! Evidence that a quality measure or a gate rule predicts errors, built on every pair of a
//! labelled photo set rather than a short pair list: every same-person pair (mated) and every
//! cross-person pair (non-mated), so the false match rate can be fixed at 1e-3 or 1e-4 and each
//! curve rests on tens of errors rather than five.
//!
//! Uncertainty comes from a bootstrap over **people** (a cluster bootstrap): the pairs of one
//! person are not independent, so people, not pairs, are drawn with replacement. The threshold
//! stays where the whole set put it (its non-mated pairs are many and the FMR they give is
//! precise; what is uncertain is how the mated pairs fall around it).

use faceprint::cosine_similarity;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::quality::{EdcPoint, QualityPair, edc_area, error_versus_discard};
use super::{PairScore, quality::QUALITY_MEASURES};
use faceprint::analysis::QualityIssue;

/// One photo of a labelled set, analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledFace {
    /// Who it is (an index into the caller's list of people).
    pub person: usize,
    /// Unit-length embedding; `None` when no face was found.
    pub embedding: Option<Vec<f32>>,
    /// The face's value of each of [`QUALITY_MEASURES`] (higher is better).
    pub measures: [Option<f32>; QUALITY_MEASURES.len()],
    /// Every rule of the gate the face breaks ([`crate::analysis::QualityGate::findings`]).
    pub issues: Vec<QualityIssue>,
}

/// A same-person pair: two faces of `person` and their similarity (`None`: a face is missing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatedPair {
    pub a: usize,
    pub b: usize,
    pub person: usize,
    pub similarity: Option<f32>,
}

/// Every pair among the faces of the chosen people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairSet {
    pub mated: Vec<MatedPair>,
    /// Every non-mated similarity, highest first; a pair with a missing face counts as
    /// accepted (+∞), as in [`super::PairScore`].
    pub non_mated: Vec<f32>,
}

impl PairSet {
    /// Every pair among the faces whose person passes `keep`.
    pub fn build(faces: &[LabelledFace], keep: impl Fn(usize) -> bool) -> PairSet {
        let chosen: Vec<usize> = (0..faces.len()).filter(|&i| keep(faces[i].person)).collect();
        let mut set = PairSet::default();
        for (n, &i) in chosen.iter().enumerate() {
            for &j in &chosen[n + 1..] {
                let similarity = match (&faces[i].embedding, &faces[j].embedding) {
                    (Some(a), Some(b)) => Some(cosine_similarity(a, b)),
                    _ => None,
                };
                if faces[i].person == faces[j].person {
                    set.mated.push(MatedPair { a: i, b: j, person: faces[i].person, similarity });
                } else {
                    set.non_mated.push(similarity.unwrap_or(f32::INFINITY));
                }
            }
        }
        set.non_mated.sort_unstable_by(|a, b| b.total_cmp(a));
        set
    }

    /// The lowest threshold at which at most `fmr` of the non-mated pairs are accepted; `None`
    /// without non-mated pairs.
    pub fn threshold_at_fmr(&self, fmr: f64) -> Option<f32> {
        if self.non_mated.is_empty() {
            return None;
        }
        let allowed = (fmr * self.non_mated.len() as f64).floor() as usize;
        Some(super::threshold_admitting(&self.non_mated, allowed))
    }
}

/// Whether a mated pair is falsely rejected at `threshold`.
pub fn rejected(pair: &MatedPair, threshold: f32) -> bool {
    pair.similarity.is_none_or(|s| s < threshold)
}

/// A pair's quality by one measure: the lower of its two faces' (`None` when either lacks it).
pub fn pair_quality(faces: &[LabelledFace], pair: &MatedPair, measure: usize) -> Option<f32> {
    Some(faces[pair.a].measures[measure]?.min(faces[pair.b].measures[measure]?))
}

/// The EDC of `pairs` by one measure (`None`: the oracle, discarding by the similarity itself).
pub fn edc(
    faces: &[LabelledFace],
    pairs: &[MatedPair],
    measure: Option<usize>,
    threshold: f32,
    max_discard: f64,
) -> Vec<EdcPoint> {
    let scored: Vec<QualityPair> = pairs
        .iter()
        .map(|p| QualityPair {
            score: PairScore { same: true, similarity: p.similarity },
            quality: match measure {
                Some(m) => pair_quality(faces, p, m),
                None => p.similarity,
            },
        })
        .collect();
    error_versus_discard(&scored, threshold, max_discard, EDC_STEP)
}

/// The discard step of the curves: 1% of the mated pairs.
pub const EDC_STEP: f64 = 0.01;

/// The area under a measure that predicts nothing: the starting FNMR, flat.
pub fn flat_area(pairs: &[MatedPair], threshold: f32, max_discard: f64) -> f64 {
    fnmr(pairs, threshold) * max_discard
}

/// The false non-match rate of `pairs` at `threshold` (0 without pairs).
pub fn fnmr(pairs: &[MatedPair], threshold: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    pairs.iter().filter(|p| rejected(p, threshold)).count() as f64 / pairs.len() as f64
}

/// A statistic with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// What a rule that flags nothing has: no effect, and no uncertainty about it.
    pub const NO_EFFECT: Interval = Interval { estimate: 0.0, low: 0.0, high: 0.0 };

    /// Whether the whole interval lies above zero.
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }
}

/// `statistic` on `items`, with the 2.5th and 97.5th percentiles of its value over `resamples`
/// cluster-bootstrap resamples: whole clusters (`cluster` of an item: its person) are drawn with
/// replacement, as many as there are. The seed is fixed: the same run gives the same interval.
/// `statistic` may return several values (one per measure); each gets its interval, from the
/// resamples where it is finite (NaN: the resample says nothing of it).
pub fn bootstrap<T: Clone, K: Ord, const N: usize>(
    items: &[T],
    cluster: impl Fn(&T) -> K,
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[T]) -> [f64; N],
) -> [Interval; N] {
    let estimate = statistic(items);
    let mut clusters: std::collections::BTreeMap<K, Vec<T>> = Default::default();
    for item in items {
        clusters.entry(cluster(item)).or_default().push(item.clone());
    }
    let groups: Vec<Vec<T>> = clusters.into_values().collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draws: Vec<[f64; N]> = Vec::with_capacity(resamples);
    let mut sample = Vec::with_capacity(items.len());
    for _ in 0..resamples {
        if groups.is_empty() {
            break;
        }
        sample.clear();
        for _ in 0..groups.len() {
            sample.extend_from_slice(&groups[rng.random_range(0..groups.len())]);
        }
        draws.push(statistic(&sample));
    }
    std::array::from_fn(|k| {
        let mut values: Vec<f64> = draws.iter().map(|d| d[k]).filter(|v| v.is_finite()).collect();
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                return estimate[k];
            }
            values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)]
        };
        Interval { estimate: estimate[k], low: at(0.025), high: at(0.975) }
    })
}

/// [`bootstrap`] over mated pairs, clustered by person.
fn bootstrap_pairs<const N: usize>(
    pairs: &[MatedPair],
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[MatedPair]) -> [f64; N],
) -> [Interval; N] {
    bootstrap(pairs, |p| p.person, resamples, seed, statistic)
}

/// What one gate rule predicts: the FNMR of mated pairs that hold a face breaking it, against
/// the pairs that do not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuleEffect {
    pub issue: QualityIssue,
    /// Faces that break the rule.
    pub faces: usize,
    /// Mated pairs with such a face, and how many of them are rejected.
    pub flagged_pairs: usize,
    pub flagged_errors: usize,
    pub fnmr_flagged: f64,
    pub fnmr_other: f64,
    /// `fnmr_flagged − fnmr_other` with its bootstrap interval.
    pub effect: Interval,
}

/// The effect of each issue at `threshold`.
pub fn rule_effects(
    faces: &[LabelledFace],
    pairs: &[MatedPair],
    threshold: f32,
    resamples: usize,
    seed: u64,
) -> Vec<RuleEffect> {
    QualityIssue::ALL
        .iter()
        .map(|&issue| {
            let breaks = |i: usize| faces[i].issues.contains(&issue);
            let flagged = |p: &MatedPair| breaks(p.a) || breaks(p.b);
            let split =
                |sample: &[MatedPair]| -> (Vec<MatedPair>, Vec<MatedPair>) { sample.iter().partition(|p| flagged(p)) };
            let (hit, rest) = split(pairs);
            let [effect] = bootstrap_pairs(pairs, resamples, seed, |sample| {
                let (hit, rest) = split(sample);
                // A resample without a flagged pair says nothing about the rule.
                if hit.is_empty() { [f64::NAN] } else { [fnmr(&hit, threshold) - fnmr(&rest, threshold)] }
            });
            RuleEffect {
                issue,
                faces: (0..faces.len()).filter(|&i| breaks(i) && faces[i].embedding.is_some()).count(),
                flagged_pairs: hit.len(),
                flagged_errors: hit.iter().filter(|p| rejected(p, threshold)).count(),
                fnmr_flagged: fnmr(&hit, threshold),
                fnmr_other: fnmr(&rest, threshold),
                effect: if hit.is_empty() { Interval::NO_EFFECT } else { effect },
            }
        })
        .collect()
}

/// The half of the people a name falls in (0 or 1), fixed by the name alone (FNV-1a), so the
/// halves do not depend on which other people are in the set.
pub fn half_of(name: &str) -> usize {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    (hash >> 17) as usize & 1
}

/// EDC areas with intervals for every measure, plus the flat and oracle areas.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EdcEvidence {
    pub fmr: f64,
    pub threshold: f32,
    pub mated_pairs: usize,
    pub non_mated_pairs: usize,
    /// Mated pairs rejected before anything is discarded: what the curves rest on.
    pub errors: usize,
    pub fnmr: f64,
    /// One area per [`QUALITY_MEASURES`] entry, in that order.
    pub areas: Vec<(String, Interval)>,
    pub flat: f64,
    pub oracle: f64,
}

/// The EDC evidence of every measure on `set` at `fmr`; `None` without non-mated pairs.
pub fn edc_evidence(
    faces: &[LabelledFace],
    set: &PairSet,
    fmr: f64,
    max_discard: f64,
    resamples: usize,
    seed: u64,
) -> Option<EdcEvidence> {
    let threshold = set.threshold_at_fmr(fmr)?;
    const M: usize = QUALITY_MEASURES.len();
    let intervals: [Interval; M] = bootstrap_pairs(&set.mated, resamples, seed, |sample| {
        std::array::from_fn(|m| edc_area(&edc(faces, sample, Some(m), threshold, max_discard)))
    });
    Some(EdcEvidence {
        fmr,
        threshold,
        mated_pairs: set.mated.len(),
        non_mated_pairs: set.non_mated.len(),
        errors: set.mated.iter().filter(|p| rejected(p, threshold)).count(),
        fnmr: fnmr(&set.mated, threshold),
        areas: QUALITY_MEASURES.iter().map(|m| m.to_string()).zip(intervals).collect(),
        flat: flat_area(&set.mated, threshold, max_discard),
        oracle: edc_area(&edc(faces, &set.mated, None, threshold, max_discard)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(person: usize, direction: f32, quality: f32, issues: Vec<QualityIssue>) -> LabelledFace {
        let (s, c) = direction.sin_cos();
        let mut measures = [None; QUALITY_MEASURES.len()];
        measures[0] = Some(quality);
        LabelledFace { person, embedding: Some(vec![c, s]), measures, issues }
    }

    /// Four people, three faces each, on a circle: person p near angle p·90°. Person 3's third
    /// face is far off and low quality, and breaks a rule.
    fn faces() -> Vec<LabelledFace> {
        let mut faces = Vec::new();
        for p in 0..4 {
            let base = p as f32 * std::f32::consts::FRAC_PI_2;
            faces.push(face(p, base, 0.9, vec![]));
            faces.push(face(p, base + 0.1, 0.8, vec![]));
            let odd = p == 3;
            let third = if odd { base + 1.2 } else { base - 0.1 };
            faces.push(face(
                p,
                third,
                if odd { 0.1 } else { 0.7 },
                if odd { vec![QualityIssue::Blurry] } else { vec![] },
            ));
        }
        faces
    }

    #[test]
    fn every_pair_is_built_once_and_labelled_by_person() {
        let set = PairSet::build(&faces(), |_| true);
        assert_eq!(set.mated.len(), 4 * 3);
        assert_eq!(set.non_mated.len(), 12 * 11 / 2 - 12);
        assert!(set.non_mated.windows(2).all(|w| w[0] >= w[1]));
        let half = PairSet::build(&faces(), |p| p < 2);
        assert_eq!((half.mated.len(), half.non_mated.len()), (6, 9));
    }

    #[test]
    fn the_low_quality_error_is_discarded_first_and_the_rule_that_flags_it_has_an_effect() {
        let faces = faces();
        let set = PairSet::build(&faces, |_| true);
        // No non-mated pair accepted: the threshold sits just above the highest one.
        let threshold = set.threshold_at_fmr(0.0).unwrap();
        let errors = set.mated.iter().filter(|p| rejected(p, threshold)).count();
        assert_eq!(errors, 2, "person 3's odd face against its two others");
        let curve = edc(&faces, &set.mated, Some(0), threshold, 0.2);
        assert!(curve.first().unwrap().fnmr > 0.1 && curve.last().unwrap().fnmr == 0.0, "{curve:?}");
        let effects = rule_effects(&faces, &set.mated, threshold, 200, 7);
        let blurry = effects.iter().find(|e| e.issue == QualityIssue::Blurry).unwrap();
        assert_eq!((blurry.faces, blurry.flagged_pairs, blurry.flagged_errors), (1, 2, 2));
        assert_eq!((blurry.fnmr_flagged, blurry.fnmr_other), (1.0, 0.0));
        let dark = effects.iter().find(|e| e.issue == QualityIssue::TooDark).unwrap();
        assert_eq!((dark.flagged_pairs, dark.effect.estimate), (0, 0.0));
    }

    #[test]
    fn the_bootstrap_interval_brackets_the_estimate_and_a_constant_has_none() {
        let set = PairSet::build(&faces(), |_| true);
        let [share] = bootstrap_pairs(&set.mated, 500, 1, |s| {
            [s.iter().filter(|p| p.person == 3).count() as f64 / s.len() as f64]
        });
        assert!(share.low <= share.estimate && share.estimate <= share.high && share.low < share.high, "{share:?}");
        let [constant] = bootstrap_pairs(&set.mated, 100, 1, |_| [0.5]);
        assert_eq!((constant.low, constant.high), (0.5, 0.5));
    }

    #[test]
    fn halves_depend_on_the_name_alone_and_split_people_roughly_evenly() {
        assert_eq!(half_of("Ada_Lovelace"), half_of("Ada_Lovelace"));
        let ones = (0..1000).filter(|i| half_of(&format!("person_{i}")) == 1).count();
        assert!((400..600).contains(&ones), "{ones}");
    }
}
