//! `faceprint eval …`: accuracy on labelled benchmarks.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::SelectArg;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW-style verification: 10-fold accuracy, accuracy at the shipped threshold, TAR@FAR.
    Lfw {
        /// pairs.txt
        #[arg(long)]
        pairs: PathBuf,
        /// Directory holding Name/Name_NNNN.jpg
        #[arg(long)]
        root: PathBuf,
        /// Write the ROC curve as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Which face of each photo (LFW labels the centred one).
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
    /// Does the quality score predict errors? Error-versus-discard curves (ISO/IEC 29794-1) on
    /// labelled pairs for the combined score and each part, with the area under each.
    Quality {
        /// pairs.txt
        #[arg(long)]
        pairs: PathBuf,
        /// Directory holding Name/Name_NNNN.jpg
        #[arg(long)]
        root: PathBuf,
        /// The false match rate the threshold is fixed at.
        #[arg(long, default_value_t = 0.01)]
        fmr: f64,
        /// Discard up to this fraction of the same-person pairs.
        #[arg(long, default_value_t = 0.30)]
        max_discard: f64,
        /// Write the curves as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
    /// The evidence behind the quality score and the enrolment gate, on every pair of folders of
    /// labelled photos: error-versus-discard areas with bootstrap intervals at several FMRs, on
    /// the half of the people the recipe was chosen on and on the held-out half, and each gate
    /// rule's effect on false non-matches.
    Gate {
        /// A folder with one subfolder of photos per person (repeat for several datasets).
        #[arg(long, required = true)]
        root: Vec<PathBuf>,
        /// The false match rates the threshold is fixed at, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![0.01, 0.001, 0.0001])]
        fmr: Vec<f64>,
        /// Discard up to this fraction of the same-person pairs.
        #[arg(long, default_value_t = 0.30)]
        max_discard: f64,
        /// Bootstrap resamples of the people for each interval.
        #[arg(long, default_value_t = 1000)]
        bootstrap: usize,
        /// Write the held-out half's curves at the last FMR as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
    /// Clustering quality against folder-name labels (ROOT/Name/*.jpg): faceprint's grouping next
    /// to DBSCAN with Immich's defaults and agglomerative average linkage, on the same faceprints.
    Cluster {
        /// A folder with one subfolder of photos per person.
        #[arg(long)]
        root: PathBuf,
        /// Cluster every face of every photo; the faces that are not the centred one (the one the
        /// label names) are distractors, clustered but not scored.
        #[arg(long)]
        all_faces: bool,
        /// Write faceprint's mistakes as a contact sheet (PNG): the clusters holding more than
        /// one person, then the people split over several clusters.
        #[arg(long)]
        sheet: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Open-set identification through a fresh gallery: rank-1 and TPIR at FPIR 1%.
    Identify {
        /// orl: subjects s1..s40, photos 1-5 enrolled and 6-10 searched; lfw: one folder per
        /// person, the first photo enrolled and the others searched.
        #[arg(long, value_enum)]
        protocol: ProtocolArg,
        /// The dataset's root folder.
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        json: bool,
        /// Which face of each photo.
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
        /// Enrol every gallery photo, even those the quality gate refuses (the gate is on by
        /// default, as for `enroll`).
        #[arg(long)]
        force: bool,
    },
}

/// How faces are grouped into people (defaults tuned for the default pack; see BENCHMARKS.md).
#[derive(Debug, Clone, Copy, Args)]
pub struct ClusterArgs {
    /// Neighbours per face in the k-nearest-neighbour graph.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().neighbours)]
    pub neighbours: usize,
    /// Chinese whispers follows only edges at least this similar.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().seed_similarity)]
    pub seed_similarity: f32,
    /// Groups merge while their mean pairwise similarity is at least this.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().merge_similarity)]
    pub merge_similarity: f32,
}

impl From<ClusterArgs> for faceprint::cluster::ClusterParams {
    fn from(a: ClusterArgs) -> Self {
        Self {
            neighbours: a.neighbours,
            seed_similarity: a.seed_similarity,
            merge_similarity: a.merge_similarity,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    Orl,
    Lfw,
}
