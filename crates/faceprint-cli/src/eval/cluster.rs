//! `faceprint eval cluster`: clusters the faces of labelled photos (one folder per person) and
//! scores the grouping against the folders, next to DBSCAN as Immich runs it and agglomerative
//! average linkage on the same faceprints, in one run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use faceprint::FaceSelect;
use faceprint::cluster::{ClusterFace, ClusterParams, cluster};
use faceprint_eval::clustering::{ClusterScores, agglomerative_average, dbscan, score_clustering};

use crate::args::EngineArgs;
use crate::eval::gate::{LabelledPhotos, labelled_photos};
use crate::progress;

/// Immich's defaults (`machine-learning` face clustering: `maxDistance` 0.5, `minFaces` 3).
const IMMICH_MAX_DISTANCE: f32 = 0.5;
const IMMICH_MIN_FACES: usize = 3;

/// Options of `eval cluster`.
#[derive(Debug)]
pub struct ClusterEvalArgs {
    pub root: PathBuf,
    pub sheet: Option<PathBuf>,
    pub all_faces: bool,
    pub json: bool,
    pub params: ClusterParams,
}

/// The faces to cluster: every face (or the centred one) of every photo, each with its photo and,
/// for the face the label names, its person.
#[derive(Debug, Default)]
struct FaceSet {
    vectors: Vec<Vec<f32>>,
    photo: Vec<u64>,
    /// The person of a labelled face; `None` for a distractor.
    person: Vec<Option<usize>>,
    boxes: Vec<faceprint::BBox>,
    /// Photos where no face was found: their labelled face is scored as a cluster of its own.
    missed: Vec<usize>,
}

fn collect_faces(engine_args: &EngineArgs, labelled: &LabelledPhotos, all_faces: bool, quiet: bool) -> Result<FaceSet> {
    let engine = engine_args.engine()?;
    let bar = progress::bar(labelled.photos.len(), quiet, "embedding");
    let inputs = labelled.photos.iter().map(|(_, p)| (p.clone(), None)).collect();
    let select = if all_faces { FaceSelect::All } else { FaceSelect::Center };
    let mut set = FaceSet::default();
    engine.process_inputs(inputs, select, true, |outcome| {
        bar.inc(1);
        let person = labelled.photos[outcome.index].0;
        let found = match outcome.result {
            Ok(found) if !found.faces.is_empty() => found,
            Ok(_) => return set.missed.push(person),
            Err(e) => {
                bar.suspend(|| eprintln!("{}: {e}", outcome.path.display()));
                return set.missed.push(person);
            }
        };
        let detections: Vec<_> = found.faces.iter().map(|f| f.detection.clone()).collect();
        let centre = faceprint::centre_face(&detections, found.width, found.height);
        for (i, face) in found.faces.into_iter().enumerate() {
            let Some(embedding) = face.embedding else { continue };
            set.vectors.push(embedding.vector);
            set.photo.push(outcome.index as u64);
            set.boxes.push(face.detection.bbox);
            set.person.push((Some(i) == centre).then_some(person));
        }
    });
    bar.finish_and_clear();
    Ok(set)
}

/// Runs `method` on every face, then scores its labelled faces (and the missed photos, each a
/// cluster of one).
fn scored(set: &FaceSet, method: impl FnOnce() -> Result<Vec<usize>>) -> Result<ClusterScores> {
    let started = Instant::now();
    let labels = method()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut predicted = Vec::new();
    let mut truth = Vec::new();
    for (label, person) in labels.iter().zip(&set.person) {
        if let Some(person) = person {
            predicted.push(*label);
            truth.push(*person);
        }
    }
    let first_free = labels.iter().max().map_or(0, |m| m + 1);
    for (i, person) in set.missed.iter().enumerate() {
        predicted.push(first_free + i);
        truth.push(*person);
    }
    Ok(ClusterScores { seconds, ..score_clustering(&predicted, &truth) })
}

/// Incremental against full clustering: the even photos are clustered first and their groups of
/// two or more faces become held people; then every face is clustered with those held, so the
/// odd photos join them (or form new people) without the rest being re-clustered.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Incremental {
    /// The incremental grouping scored against the full one (as if the full one were the truth).
    agreement_bcubed_f: f64,
    agreement_pairwise_f: f64,
    /// The incremental grouping against the labels.
    bcubed_f: f64,
    pairwise_f: f64,
    held_people: usize,
}

pub(crate) fn incremental(
    views: &[&[f32]],
    photo: &[u64],
    person: &[Option<usize>],
    full: &[usize],
    params: &ClusterParams,
) -> Result<Incremental> {
    let first: Vec<usize> = (0..views.len()).filter(|&i| photo[i].is_multiple_of(2)).collect();
    let faces: Vec<ClusterFace> = first.iter().map(|&i| ClusterFace::new(views[i], photo[i])).collect();
    let earlier = cluster(&faces, params)?;
    let mut held_by = vec![None; views.len()];
    let mut held_people = 0;
    for group in earlier.groups.iter().filter(|g| g.faces.len() >= 2) {
        held_people += 1;
        for &f in &group.faces {
            held_by[first[f]] = Some(held_people as i64);
        }
    }
    let faces: Vec<ClusterFace> = views
        .iter()
        .enumerate()
        .map(|(i, v)| ClusterFace { held_by: held_by[i], ..ClusterFace::new(v, photo[i]) })
        .collect();
    let labels = cluster(&faces, params)?.group_of;
    let agreement = score_clustering(&labels, full);
    let (predicted, truth): (Vec<usize>, Vec<usize>) =
        labels.iter().zip(person).filter_map(|(&l, p)| Some((l, (*p)?))).unzip();
    let against_labels = score_clustering(&predicted, &truth);
    Ok(Incremental {
        agreement_bcubed_f: agreement.bcubed_f,
        agreement_pairwise_f: agreement.pairwise_f,
        bcubed_f: against_labels.bcubed_f,
        pairwise_f: against_labels.pairwise_f,
        held_people,
    })
}

/// Rows of the sheet at most, and faces per row.
const SHEET_ROWS: usize = 40;
const SHEET_COLUMNS: usize = 8;

/// A contact sheet of faceprint's mistakes among the labelled faces: first each cluster that
/// holds more than one person (captioned with the people's names), then each person split over
/// several clusters (captioned with the cluster numbers).
fn write_mistakes_sheet(
    path: &std::path::Path,
    set: &FaceSet,
    labelled: &LabelledPhotos,
    labels: &[usize],
) -> Result<()> {
    use std::collections::BTreeMap;
    let labelled_faces: Vec<usize> = (0..labels.len()).filter(|&i| set.person[i].is_some()).collect();
    let mut by_cluster: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut by_person: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &labelled_faces {
        by_cluster.entry(labels[i]).or_default().push(i);
        by_person.entry(set.person[i].unwrap_or_default()).or_default().push(i);
    }
    let mixed = by_cluster.values().filter(|faces| faces.iter().any(|&i| set.person[i] != set.person[faces[0]]));
    let split = by_person.values().filter(|faces| faces.iter().any(|&i| labels[i] != labels[faces[0]]));
    let rows: Vec<(&Vec<usize>, bool)> =
        mixed.map(|f| (f, true)).chain(split.map(|f| (f, false))).take(SHEET_ROWS).collect();
    let limits = faceprint::DecodeLimits::default();
    let mut images = std::collections::HashMap::new();
    for &(faces, _) in &rows {
        for &i in faces.iter().take(SHEET_COLUMNS) {
            let photo = set.photo[i] as usize;
            if let std::collections::hash_map::Entry::Vacant(slot) = images.entry(photo) {
                let bytes = std::fs::read(&labelled.photos[photo].1)?;
                slot.insert(faceprint::imaging::decode_image(&bytes, &limits)?);
            }
        }
    }
    let tiles: Vec<Vec<faceprint::draw::Tile>> = rows
        .iter()
        .map(|&(faces, mixed)| {
            faces
                .iter()
                .take(SHEET_COLUMNS)
                .map(|&i| faceprint::draw::Tile {
                    image: &images[&(set.photo[i] as usize)],
                    face: Some(set.boxes[i]),
                    caption: if mixed {
                        labelled.people[set.person[i].unwrap_or_default()].clone()
                    } else {
                        format!("cluster {}", labels[i])
                    },
                })
                .collect()
        })
        .collect();
    faceprint::draw::contact_sheet(&tiles, SHEET_COLUMNS, 128).save(path)?;
    Ok(())
}

pub fn run(engine_args: &EngineArgs, args: &ClusterEvalArgs, quiet: bool) -> Result<ExitCode> {
    let labelled = labelled_photos(std::slice::from_ref(&args.root))?;
    let set = collect_faces(engine_args, &labelled, args.all_faces, quiet)?;
    let views: Vec<&[f32]> = set.vectors.iter().map(Vec::as_slice).collect();
    let mut full = Vec::new();
    let faceprint = scored(&set, || {
        let faces: Vec<ClusterFace> =
            views.iter().zip(&set.photo).map(|(v, &photo)| ClusterFace::new(v, photo)).collect();
        full = cluster(&faces, &args.params)?.group_of;
        Ok(full.clone())
    })?;
    let incremental = incremental(&views, &set.photo, &set.person, &full, &args.params)?;
    if let Some(path) = &args.sheet {
        write_mistakes_sheet(path, &set, &labelled, &full)?;
    }
    let immich = scored(&set, || Ok(dbscan(&views, IMMICH_MAX_DISTANCE, IMMICH_MIN_FACES)))?;
    // The same threshold as faceprint's merging, so the comparison is of the methods.
    let agglomerative = scored(&set, || Ok(agglomerative_average(&views, args.params.merge_similarity)))?;
    if !set.missed.is_empty() && !quiet {
        eprintln!("{} photos had no face: each counts as a cluster of one", set.missed.len());
    }
    if args.json {
        let mut report = serde_json::to_value(faceprint)?;
        report["baselines"] = serde_json::json!({ "dbscan_immich": immich, "agglomerative": agglomerative });
        report["incremental"] = serde_json::to_value(&incremental)?;
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} photos of {} people; {} faces clustered{}",
        labelled.photos.len(),
        labelled.people.len(),
        set.vectors.len(),
        if args.all_faces { " (every face; scored on the centred, labelled ones)" } else { "" }
    );
    println!(
        "{:<34} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}",
        "method", "clusters", "BCubed F", "B prec", "B recall", "pair F", "p prec", "p recall", "NMI", "seconds"
    );
    let p = &args.params;
    let rows = [
        (format!("faceprint (seed {:.2}, merge {:.2})", p.seed_similarity, p.merge_similarity), faceprint),
        (format!("DBSCAN, Immich (d {IMMICH_MAX_DISTANCE}, min {IMMICH_MIN_FACES})"), immich),
        (format!("agglomerative average ({:.2})", p.merge_similarity), agglomerative),
    ];
    for (name, s) in rows {
        println!(
            "{name:<34} {:>8} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>7.4} {:>8.3}",
            s.clusters,
            s.bcubed_f,
            s.bcubed_precision,
            s.bcubed_recall,
            s.pairwise_f,
            s.pairwise_precision,
            s.pairwise_recall,
            s.nmi,
            s.seconds
        );
    }
    println!(
        "incremental (even photos first, {} people held, then all): BCubed F {:.4}, pair F {:.4}; agreement with the full run: BCubed F {:.4}, pair F {:.4}",
        incremental.held_people,
        incremental.bcubed_f,
        incremental.pairwise_f,
        incremental.agreement_bcubed_f,
        incremental.agreement_pairwise_f
    );
    Ok(ExitCode::SUCCESS)
}
