//! Photo library endpoints: status, people (list, faces, name, merge, split, remove a face),
//! face crops, and search by photo or by subject. Indexing folders stays on the command line:
//! a server that reads any path a client names would be a way into its file system.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use faceprint::contract::{LibraryStatusOut, PersonOut, PhotoHitOut, SplitOut};
use faceprint::library::{Library, LibraryFace, MAX_SPLIT_STRICTNESS, Page, split_person as split};
use faceprint::{FaceSelect, SubjectKey};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::engine::infer;
use super::{DEFAULT_PAGE, MAX_PAGE};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::images::read_image;
use crate::pool::blocking;
use crate::{ApiError, AppState};

fn library(state: &AppState) -> Result<Arc<dyn Library>, ApiError> {
    state.library.clone().ok_or(ApiError::NoLibrary)
}

/// Runs a library call on a blocking thread, a few at once: a client looping over long reads
/// waits for its turn (429 `busy` after a second) instead of taking every thread and the
/// reader connection from everyone else.
async fn library_call<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(Arc<dyn Library>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let library = library(state)?;
    let permit = tokio::time::timeout(LIBRARY_QUEUE_WAIT, state.library_calls.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::LibraryBusy)?
        .map_err(|_| ApiError::LibraryBusy)?;
    blocking(move || {
        let _permit = permit; // held until the work ends, even when the request gave up
        work(library)
    })
    .await?
}

const LIBRARY_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Entries to skip (default 0).
    pub offset: Option<usize>,
    /// Most entries (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl PageQuery {
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request("bad_query", format!("limit must be 1..={MAX_PAGE}")));
        }
        Ok(Page { offset: self.offset.unwrap_or(0), limit })
    }
}

/// Counts (photos, files, faces, people, named people, unassigned faces, errors) and the files
/// that could not be indexed.
#[utoipa::path(get, path = "/v1/library", tag = "library",
    responses((status = 200, body = LibraryStatusOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn status(State(state): State<AppState>) -> Result<Json<LibraryStatusOut>, ApiError> {
    let out = library_call(&state, |library| {
        Ok::<_, ApiError>(LibraryStatusOut::new(
            library.library_status()?,
            library.file_errors(Page { offset: 0, limit: DEFAULT_PAGE })?,
        ))
    })
    .await?;
    Ok(Json(out))
}

/// The people, most faces first, a page at a time: id, name (`null` until named), faces,
/// representative face.
#[utoipa::path(get, path = "/v1/library/people", tag = "library", params(PageQuery),
    responses((status = 200, body = Vec<PersonOut>), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn people(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<PersonOut>>, ApiError> {
    let page = query.page()?;
    let people = library_call(&state, move |library| Ok(library.people(page)?)).await?;
    Ok(Json(people.into_iter().map(Into::into).collect()))
}

/// A person's faces, best quality first, a page at a time.
#[utoipa::path(get, path = "/v1/library/people/{id}/faces", tag = "library", params(PageQuery),
    responses((status = 200, description = "[{face_id, photo, person, quality, detection_score, bbox, landmarks}]"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn person_faces(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<LibraryFace>>, ApiError> {
    let page = query.page()?;
    Ok(Json(library_call(&state, move |library| Ok(library.person_faces(id, page)?)).await?))
}

/// A face's aligned 112×112 crop, PNG.
#[utoipa::path(get, path = "/v1/library/faces/{id}/crop", tag = "library",
    responses((status = 200, content_type = "image/png"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn face_crop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let png = library_call(&state, move |library| {
        library.library_face(id)?;
        Ok(library.face_crop(id)?)
    })
    .await?
    .ok_or(ApiError::Engine(faceprint::GalleryError::UnknownFace(id).into()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NameIn {
    pub name: String,
    /// When a subject of this name is already enrolled (not from the library), join it: the
    /// person's faces become its templates too. Without it, such a name is refused.
    #[serde(default)]
    pub merge_into_subject: bool,
}

/// Names a person: it becomes the gallery subject of that name (default collection).
#[utoipa::path(post, path = "/v1/library/people/{id}/name", tag = "library", request_body = NameIn,
    responses((status = 200, body = PersonOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn name_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NameIn>,
) -> Result<Json<PersonOut>, ApiError> {
    let named =
        library_call(&state, move |library| Ok(library.name_person(id, &body.name, body.merge_into_subject)?)).await?;
    Ok(Json(named.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeIn {
    /// The person whose faces move into this one.
    pub from: i64,
}

/// Moves every face of `from` into this person.
#[utoipa::path(post, path = "/v1/library/people/{id}/merge", tag = "library", request_body = MergeIn,
    responses((status = 200, body = PersonOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn merge_people(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeIn>,
) -> Result<Json<PersonOut>, ApiError> {
    Ok(Json(library_call(&state, move |library| Ok(library.merge_people(id, body.from)?)).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SplitQuery {
    /// Move every sub-group but the largest to a new person, in one transaction (default: only
    /// propose). Merging a part back undoes it.
    pub apply: Option<bool>,
    /// How much stricter than grouping the re-clustering is, 0 to 0.5 (default 0.1).
    pub strictness: Option<f32>,
}

/// A split's strictness (default 0.1), refused as a bad query before any work outside
/// 0..=[`MAX_SPLIT_STRICTNESS`] (NaN included), as `propose_split` itself would.
pub(crate) fn checked_strictness(strictness: Option<f32>) -> Result<f32, ApiError> {
    let strictness = strictness.unwrap_or(0.1);
    if !(0.0..=MAX_SPLIT_STRICTNESS).contains(&strictness) {
        return Err(ApiError::bad_request("bad_query", format!("strictness must be 0..={MAX_SPLIT_STRICTNESS}")));
    }
    Ok(strictness)
}

/// Proposes sub-groups of a person's faces, re-clustered more strictly; `?apply=true` moves
/// all but the largest to new people in one transaction (merging one back undoes it).
#[utoipa::path(post, path = "/v1/library/people/{id}/split", tag = "library", params(SplitQuery),
    responses((status = 200, body = SplitOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn split_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<SplitQuery>,
) -> Result<Json<SplitOut>, ApiError> {
    let strictness = checked_strictness(query.strictness)?;
    let apply = query.apply.unwrap_or(false);
    Ok(Json(library_call(&state, move |library| Ok(split(library.as_ref(), id, strictness, apply)?)).await?))
}

/// Takes a face from a person; it never rejoins that person.
#[utoipa::path(delete, path = "/v1/library/people/{id}/faces/{face}", tag = "library",
    responses((status = 200, body = PersonOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn remove_face(
    State(state): State<AppState>,
    ApiPath((id, face)): ApiPath<(i64, i64)>,
) -> Result<Json<PersonOut>, ApiError> {
    let person = library_call(&state, move |library| {
        library.remove_face(id, face)?;
        Ok(library.person(id)?)
    })
    .await?;
    Ok(Json(person.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Search with this gallery subject's templates instead of a photo (GET).
    pub subject: Option<String>,
    /// Most photos (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Lowest similarity of a match, 0.1 to 1 (default: the model's verification threshold).
    pub threshold: Option<f32>,
}

/// The lowest search threshold taken: faceprints of strangers score about 0 ± 0.1, so a lower
/// one matches every photo and only lists the library.
pub const MIN_SEARCH_THRESHOLD: f32 = 0.1;

/// The search's threshold and limit, checked before any work.
fn search_bounds(state: &AppState, query: &SearchQuery) -> Result<(f32, usize), ApiError> {
    checked_search_bounds(query.threshold.unwrap_or(state.engine.threshold()), query.limit)
}

/// A search's threshold, refused outside 0.1..=1 (NaN included), and its limit (default 100),
/// refused outside 1..=1000.
pub(crate) fn checked_search_bounds(threshold: f32, limit: Option<usize>) -> Result<(f32, usize), ApiError> {
    if !(MIN_SEARCH_THRESHOLD..=1.0).contains(&threshold) {
        return Err(ApiError::bad_request("bad_query", format!("threshold must be {MIN_SEARCH_THRESHOLD}..=1")));
    }
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("bad_query", format!("limit must be 1..={MAX_PAGE}")));
    }
    Ok((threshold, limit))
}

fn search_with(
    state: &AppState,
    library: &dyn Library,
    queries: Vec<Vec<f32>>,
    (threshold, limit): (f32, usize),
) -> Result<Vec<PhotoHitOut>, ApiError> {
    let hits = faceprint::library::search_photos(
        state.gallery.as_ref(),
        library,
        state.engine.model_id(),
        &queries,
        threshold,
        limit,
    )?;
    Ok(hits.into_iter().map(PhotoHitOut::from).collect())
}

/// Photos where the person of the posted photo (its largest face) appears, best first.
#[utoipa::path(post, path = "/v1/library/search", tag = "library", params(SearchQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = Vec<PhotoHitOut>), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn search_by_photo(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
    request: Request,
) -> Result<Json<Vec<PhotoHitOut>>, ApiError> {
    library(&state)?;
    let bounds = search_bounds(&state, &query)?;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let engine = state.engine.clone();
    let probe = infer(&state, move || {
        let _share = share;
        let faces = engine.faces_in_bytes(&bytes, FaceSelect::Largest, true)?;
        Ok(faces.embedding(0)?.vector.clone())
    })
    .await?;
    let state2 = state.clone();
    Ok(Json(library_call(&state, move |library| search_with(&state2, library.as_ref(), vec![probe], bounds)).await?))
}

/// Photos where a gallery subject (a named person, or anyone enrolled) appears, best first.
#[utoipa::path(get, path = "/v1/library/search", tag = "library", params(SearchQuery),
    responses((status = 200, body = Vec<PhotoHitOut>), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn search_by_subject(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<PhotoHitOut>>, ApiError> {
    let Some(subject) = query.subject.clone() else {
        return Err(ApiError::bad_request("bad_query", "give ?subject=NAME, or POST a photo"));
    };
    let bounds = search_bounds(&state, &query)?;
    let state2 = state.clone();
    let hits = library_call(&state, move |library| {
        let queries = faceprint::library::subject_probes(state2.gallery.as_ref(), &SubjectKey::parse(&subject))?;
        search_with(&state2, library.as_ref(), queries, bounds)
    })
    .await?;
    Ok(Json(hits))
}
