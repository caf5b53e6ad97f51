//! `faceprint library …`: the photo library's flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use faceprint::library::MAX_SPLIT_STRICTNESS;

use super::EngineArgs;

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Index every photo under the folders (recursively), then group new faces into people.
    /// Re-running only reads new or changed files; a killed run resumes where it stopped.
    Add {
        #[command(flatten)]
        engine: EngineArgs,
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Index only; leave new faces unassigned until the next run.
        #[arg(long)]
        no_grouping: bool,
        /// One JSON object: what was indexed and grouped.
        #[arg(long)]
        json: bool,
    },
    /// Photos, faces, people, unassigned faces, and the files that could not be indexed.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The people found (named or not), most faces first; or act on one.
    People {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<PeopleCommand>,
    },
    /// Photos where a person appears: the person of a probe photo, or a named subject.
    Search(SearchArgs),
    /// Forget the files marked missing (not found by `library add` since): a photo left with
    /// no file goes, with its faces. Lists what it removes first.
    ForgetMissing {
        /// Only files missing for at least this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u32>,
        /// List what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object: the files and the number of photos removed.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Name a person: it becomes the gallery subject of that name, so identify and verify find it.
    Name {
        person: i64,
        name: String,
        /// When someone is already enrolled under this name, join that subject (the person's
        /// faces become its templates too). Without it, such a name is refused.
        #[arg(long)]
        merge_into_subject: bool,
    },
    /// Move every face of FROM into INTO.
    Merge { into: i64, from: i64 },
    /// Propose sub-groups of a person's faces; --apply moves every sub-group but the largest to
    /// a new person, in one transaction (grouping never puts them back; merging undoes it).
    Split {
        person: i64,
        #[arg(long)]
        apply: bool,
        /// How much stricter than grouping the re-clustering is (added to both similarity
        /// thresholds), 0 to 0.5.
        #[arg(long, default_value_t = 0.1, value_parser = strictness)]
        strictness: f32,
        #[arg(long)]
        json: bool,
    },
    /// Take a face from a person; it never rejoins that person.
    RemoveFace { person: i64, face: i64 },
    /// A person's faces, best quality first: id, photo and its files, box, quality. One JSON
    /// object per line.
    Faces { person: i64 },
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A photo of the person to find (its largest face).
    #[arg(long, conflicts_with = "subject", required_unless_present = "subject")]
    pub photo: Option<PathBuf>,
    /// A gallery subject (a named person, or anyone enrolled): its templates are the probes.
    #[arg(long)]
    pub subject: Option<String>,
    /// Most photos to return.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Write the photos found as one image: thumbnails, the face boxed, its similarity written.
    #[arg(long)]
    pub contact_sheet: Option<PathBuf>,
    /// One JSON object per photo found, best first.
    #[arg(long)]
    pub json: bool,
}

/// A usage error, before anything is read, for what `propose_split` would refuse.
fn strictness(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|e| format!("{e}"))?;
    match (0.0..=MAX_SPLIT_STRICTNESS).contains(&value) {
        true => Ok(value),
        false => Err(format!("strictness must be 0..={MAX_SPLIT_STRICTNESS}")),
    }
}
