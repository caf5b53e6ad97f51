//! The in-memory side every backend shares: one vector index per collection and the face →
//! subject map, kept current by applying the store's change log. Where the vectors and the log
//! come from (an SQLite file, a PostgreSQL server) is the backend's business; this module only
//! holds them and answers nearest-subject queries.

use std::collections::{HashMap, HashSet};

use faceprint_types::ModelId;

use crate::index::{ScoredFace, VectorIndex};
use crate::{
    CompressedIndex, CompressedParams, ExactIndex, FaceId, GalleryError, HnswIndex, HnswParams, IndexKind, Result,
    SubjectId,
};

/// How the in-memory indexes are built and searched: the part of a backend's builder that is
/// not about storage.
#[derive(Debug, Clone)]
pub(crate) struct IndexSettings {
    pub(crate) index: IndexKind,
    pub(crate) hnsw: HnswParams,
    pub(crate) compressed: CompressedParams,
    pub(crate) threads: usize,
    pub(crate) auto_compressed_from: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            index: IndexKind::Auto,
            hnsw: HnswParams::default(),
            compressed: CompressedParams::default(),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            auto_compressed_from: crate::AUTO_COMPRESSED_FROM,
        }
    }
}

/// The setters every backend's builder has (over its `indexes: IndexSettings` and
/// `change_log_keep` fields), written once.
macro_rules! index_setters {
    () => {
        /// Exact, compressed, HNSW, or chosen per collection by its size (the default).
        pub fn index(mut self, kind: IndexKind) -> Self {
            self.indexes.index = kind;
            self
        }
        pub fn hnsw_params(mut self, params: HnswParams) -> Self {
            self.indexes.hnsw = params;
            self
        }
        pub fn compressed_params(mut self, params: CompressedParams) -> Self {
            self.indexes.compressed = params;
            self
        }
        /// Threads for building indexes, batched search, and one large query's scan. Default: one
        /// per core.
        pub fn threads(mut self, threads: usize) -> Self {
            self.indexes.threads = threads.max(1);
            self
        }
        /// Collection size from which [`IndexKind::Auto`] picks the compressed index (checked on
        /// open and as the collection grows).
        pub fn auto_compressed_from(mut self, faces: usize) -> Self {
            self.indexes.auto_compressed_from = faces;
            self
        }

        /// Entries of the change log kept (default 100,000): a process whose indexes are further
        /// behind reloads them. Older entries are deleted as writes go on.
        pub fn change_log_keep(mut self, entries: usize) -> Self {
            self.change_log_keep = entries.clamp(1, i64::MAX as usize) as i64;
            self
        }
    };
}
pub(crate) use index_setters;

#[derive(Debug)]
pub(crate) enum AnyIndex {
    Exact(ExactIndex),
    Compressed(CompressedIndex),
    Hnsw(HnswIndex),
}

impl AnyIndex {
    pub(crate) fn as_dyn(&self) -> &dyn VectorIndex {
        match self {
            AnyIndex::Exact(i) => i,
            AnyIndex::Compressed(i) => i,
            AnyIndex::Hnsw(i) => i,
        }
    }
    pub(crate) fn as_dyn_mut(&mut self) -> &mut dyn VectorIndex {
        match self {
            AnyIndex::Exact(i) => i,
            AnyIndex::Compressed(i) => i,
            AnyIndex::Hnsw(i) => i,
        }
    }

    /// An empty index of `kind` (Auto starts exact).
    fn empty(kind: IndexKind, dims: usize, settings: &IndexSettings) -> Result<Self> {
        Ok(match kind {
            IndexKind::Hnsw => AnyIndex::Hnsw(HnswIndex::new(dims, settings.hnsw)?),
            IndexKind::Compressed => {
                AnyIndex::Compressed(CompressedIndex::new(dims, settings.compressed).with_threads(settings.threads))
            }
            _ => AnyIndex::Exact(ExactIndex::new(dims).with_threads(settings.threads)),
        })
    }

    /// An index of `kind` over every vector of `items` (HNSW graphs built on every thread).
    pub(crate) fn build(
        kind: IndexKind,
        dims: usize,
        items: &[(FaceId, &[f32])],
        settings: &IndexSettings,
    ) -> Result<Self> {
        Ok(match kind {
            IndexKind::Hnsw => AnyIndex::Hnsw(HnswIndex::build(dims, settings.hnsw, items, settings.threads)?),
            IndexKind::Compressed => {
                AnyIndex::Compressed(CompressedIndex::build(dims, settings.compressed, items, settings.threads)?)
            }
            _ => {
                let mut exact = ExactIndex::with_capacity(dims, items.len()).with_threads(settings.threads);
                for (id, vector) in items {
                    exact.insert(*id, vector)?;
                }
                AnyIndex::Exact(exact)
            }
        })
    }
}

#[derive(Debug)]
pub(crate) struct CollectionIndex {
    pub(crate) index: AnyIndex,
    /// Log position the saved file is current to; `None` when there is no current file (always,
    /// for backends that do not save indexes).
    pub(crate) saved_seq: Option<i64>,
}

/// What a store's change log says since a position.
#[derive(Debug)]
pub(crate) enum Update {
    /// Nothing new.
    Current,
    /// The faces changed after `from` and where they are now, up to `seq`.
    Changes { from: i64, seq: i64, changed: Vec<(FaceId, CurrentFace)> },
    /// The log was cut past `from`, or the gallery was re-embedded: everything must be reloaded.
    Reload,
}

/// Where a face is now, as the store says: its collection, its subject and its vector. `None`
/// for a face that no longer exists.
pub(crate) type CurrentFace = Option<(i64, SubjectId, Vec<f32>)>;

#[derive(Debug)]
pub(crate) struct IndexState {
    pub(crate) gallery_id: String,
    pub(crate) model: Option<(ModelId, usize)>,
    pub(crate) applied_seq: i64,
    pub(crate) collections: HashMap<i64, CollectionIndex>,
    /// Which collection and subject each indexed face belongs to.
    pub(crate) faces: HashMap<FaceId, (i64, SubjectId)>,
    pub(crate) settings: IndexSettings,
}

impl IndexState {
    pub(crate) fn new(
        gallery_id: String,
        model: Option<(ModelId, usize)>,
        applied_seq: i64,
        settings: IndexSettings,
    ) -> Self {
        IndexState { gallery_id, model, applied_seq, collections: HashMap::new(), faces: HashMap::new(), settings }
    }

    pub(crate) fn dims(&self) -> usize {
        self.model.as_ref().map_or(0, |m| m.1)
    }

    /// Indexes one collection's vectors (`matrix` holds them one after another, in `ids`'
    /// order), with the kind its size calls for.
    pub(crate) fn add_collection(&mut self, collection: i64, ids: &[FaceId], matrix: &[f32]) -> Result<()> {
        let dims = self.dims();
        let items: Vec<(FaceId, &[f32])> = ids.iter().copied().zip(matrix.chunks_exact(dims)).collect();
        let index = AnyIndex::build(self.kind_for(ids.len()), dims, &items, &self.settings)?;
        self.collections.insert(collection, CollectionIndex { index, saved_seq: None });
        Ok(())
    }

    /// Checks that queries of these sizes fit the gallery's model; `false` while the gallery has
    /// no model yet (nothing to find).
    pub(crate) fn check_queries(&self, model: &ModelId, sizes: impl IntoIterator<Item = usize>) -> Result<bool> {
        let Some((current, dims)) = &self.model else { return Ok(false) };
        if current != model {
            return Err(GalleryError::ModelMismatch { gallery: current.0.clone(), given: model.0.clone() });
        }
        match sizes.into_iter().find(|size| size != dims) {
            Some(size) => Err(GalleryError::DimensionMismatch { gallery: *dims, given: size }),
            None => Ok(true),
        }
    }

    pub(crate) fn kind_for(&self, faces: usize) -> IndexKind {
        match self.settings.index {
            IndexKind::Auto if faces >= self.settings.auto_compressed_from => IndexKind::Compressed,
            IndexKind::Auto => IndexKind::Exact,
            kind => kind,
        }
    }

    pub(crate) fn kind_of(&self, collection: i64) -> IndexKind {
        match self.collections.get(&collection).map(|c| &c.index) {
            Some(AnyIndex::Hnsw(_)) => IndexKind::Hnsw,
            Some(AnyIndex::Compressed(_)) => IndexKind::Compressed,
            Some(AnyIndex::Exact(_)) => IndexKind::Exact,
            None => self.kind_for(0),
        }
    }

    pub(crate) fn index(&self, collection: i64) -> Option<&dyn VectorIndex> {
        self.collections.get(&collection).map(|c| c.index.as_dyn())
    }

    /// Applies the current state of every face the log named after `applied_seq`, and moves to
    /// `seq`: the log says what changed, the tables say what it is now, so applying a change
    /// twice is harmless.
    pub(crate) fn apply_changes(&mut self, seq: i64, changed: Vec<(FaceId, CurrentFace)>) -> Result<()> {
        let dims = self.dims();
        let new_kind = self.kind_for(0);
        for (face, current) in changed {
            if let Some((old_collection, _)) = self.faces.get(&face).copied()
                && current.as_ref().is_none_or(|c| c.0 != old_collection)
                && let Some(entry) = self.collections.get_mut(&old_collection)
            {
                entry.index.as_dyn_mut().remove(face)?;
            }
            match current {
                Some((collection, subject, vector)) => {
                    let entry = match self.collections.entry(collection) {
                        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                        std::collections::hash_map::Entry::Vacant(entry) => entry.insert(CollectionIndex {
                            index: AnyIndex::empty(new_kind, dims, &self.settings)?,
                            saved_seq: None,
                        }),
                    };
                    entry.index.as_dyn_mut().insert(face, &vector)?;
                    self.faces.insert(face, (collection, subject));
                }
                None => {
                    self.faces.remove(&face);
                }
            }
        }
        self.applied_seq = seq;
        self.upgrade_grown_collections()
    }

    /// Under [`IndexKind::Auto`], an exact index whose collection has grown past the crossover
    /// becomes compressed (its vectors are already in memory: only the codes are computed).
    fn upgrade_grown_collections(&mut self) -> Result<()> {
        let Some((_, dims)) = self.model.clone() else { return Ok(()) };
        for entry in self.collections.values_mut() {
            let AnyIndex::Exact(exact) = &entry.index else { continue };
            if self.settings.index != IndexKind::Auto || exact.len() < self.settings.auto_compressed_from {
                continue;
            }
            let items: Vec<(FaceId, &[f32])> = exact.rows().collect();
            entry.index = AnyIndex::build(IndexKind::Compressed, dims, &items, &self.settings)?;
        }
        Ok(())
    }

    pub(crate) fn set_expansion_search(&mut self, expansion: usize) {
        self.settings.hnsw.expansion_search = expansion;
        for entry in self.collections.values_mut() {
            if let AnyIndex::Hnsw(graph) = &mut entry.index {
                graph.set_expansion_search(expansion);
            }
        }
    }

    pub(crate) fn set_rerank(&mut self, rerank: usize) {
        self.settings.compressed = CompressedParams::with_rerank(rerank);
        for entry in self.collections.values_mut() {
            if let AnyIndex::Compressed(index) = &mut entry.index {
                index.set_rerank(rerank);
            }
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let map = self.faces.capacity() * (std::mem::size_of::<(FaceId, (i64, SubjectId))>() + 1);
        map + self.collections.values().map(|c| c.index.as_dyn().memory_bytes()).sum::<usize>()
    }

    /// Best face per subject for each query: asks the index for a few faces per wanted subject,
    /// and for more while subjects with several templates crowd the list.
    pub(crate) fn nearest_subjects(
        &self,
        collection: i64,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<(SubjectId, ScoredFace)>>> {
        let Some(index) = self.index(collection) else { return Ok(vec![Vec::new(); queries.len()]) };
        let subject_of = |face: FaceId| self.faces.get(&face).map(|&(_, subject)| subject);
        let first = (k * 4).max(16).min(index.len());
        let answers = index.search_batch(queries, first, self.settings.threads)?;
        let mut out = Vec::with_capacity(queries.len());
        for (query, mut faces) in queries.iter().zip(answers) {
            let mut wanted = first;
            loop {
                let best = best_per_subject(&faces, subject_of, k);
                if best.len() >= k || wanted >= index.len() || faces.len() < wanted {
                    out.push(best);
                    break;
                }
                wanted = (wanted * 4).min(index.len());
                faces = index.search(query, wanted)?;
            }
        }
        Ok(out)
    }
}

/// Keeps only the best-scoring face of each subject, in order, until `k` subjects are found.
fn best_per_subject(
    faces: &[ScoredFace],
    subject_of: impl Fn(FaceId) -> Option<SubjectId>,
    k: usize,
) -> Vec<(SubjectId, ScoredFace)> {
    let mut seen = HashSet::new();
    let mut best = Vec::with_capacity(k);
    for face in faces {
        let Some(subject) = subject_of(face.face_id) else { continue };
        if seen.insert(subject) {
            best.push((subject, *face));
            if best.len() == k {
                break;
            }
        }
    }
    best
}
