//! Photo library endpoints: status, people (list, faces, name, merge, split, remove a face),
//! face crops, and search by photo or by subject. Indexing folders stays on the command line:
//! a server that reads any path a client names would be a way into its file system.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use faceprint::library::{FileError, Library, LibraryFace, LibraryStatus, Person, PhotoHit, propose_split};
use faceprint::{FaceSelect, SubjectKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::engine::infer;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::images::read_image;
use crate::pool::blocking;
use crate::{ApiError, AppState};

fn library(state: &AppState) -> Result<Arc<dyn Library>, ApiError> {
    state.library.clone().ok_or(ApiError::NoLibrary)
}

#[derive(Debug, Serialize)]
pub struct StatusOut {
    pub status: LibraryStatus,
    pub errors: Vec<FileError>,
}

/// Counts (photos, files, faces, people, named people, unassigned faces, errors) and the files
/// that could not be indexed.
#[utoipa::path(get, path = "/v1/library", tag = "library",
    responses((status = 200, description = "{status, errors}"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn status(State(state): State<AppState>) -> Result<Json<StatusOut>, ApiError> {
    let library = library(&state)?;
    let out = blocking(move || {
        Ok::<_, faceprint::GalleryError>(StatusOut {
            status: library.library_status()?,
            errors: library.file_errors()?,
        })
    })
    .await??;
    Ok(Json(out))
}

/// Every person, most faces first: id, name (`null` until named), faces, representative face.
#[utoipa::path(get, path = "/v1/library/people", tag = "library",
    responses((status = 200, description = "[{id, name, faces, representative_face, subject_id}]"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn people(State(state): State<AppState>) -> Result<Json<Vec<Person>>, ApiError> {
    let library = library(&state)?;
    Ok(Json(blocking(move || library.people()).await??))
}

/// A person's faces, best quality first.
#[utoipa::path(get, path = "/v1/library/people/{id}/faces", tag = "library",
    responses((status = 200, description = "[{face_id, photo, person, quality, detection_score, bbox, landmarks}]"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn person_faces(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<LibraryFace>>, ApiError> {
    let library = library(&state)?;
    Ok(Json(blocking(move || library.person_faces(id)).await??))
}

/// A face's aligned 112×112 crop, PNG.
#[utoipa::path(get, path = "/v1/library/faces/{id}/crop", tag = "library",
    responses((status = 200, content_type = "image/png"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn face_crop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let library = library(&state)?;
    let png = blocking(move || {
        library.library_face(id)?;
        library.face_crop(id)
    })
    .await??
    .ok_or(ApiError::Engine(faceprint::GalleryError::UnknownFace(id).into()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NameIn {
    pub name: String,
}

/// Names a person: it becomes the gallery subject of that name (default collection).
#[utoipa::path(post, path = "/v1/library/people/{id}/name", tag = "library", request_body = NameIn,
    responses((status = 200, description = "the person"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn name_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NameIn>,
) -> Result<Json<Person>, ApiError> {
    let library = library(&state)?;
    Ok(Json(blocking(move || library.name_person(id, &body.name)).await??))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeIn {
    /// The person whose faces move into this one.
    pub from: i64,
}

/// Moves every face of `from` into this person.
#[utoipa::path(post, path = "/v1/library/people/{id}/merge", tag = "library", request_body = MergeIn,
    responses((status = 200, description = "the person"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn merge_people(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeIn>,
) -> Result<Json<Person>, ApiError> {
    let library = library(&state)?;
    Ok(Json(blocking(move || library.merge_people(id, body.from)).await??))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SplitQuery {
    /// Move every sub-group but the largest to a new person (default: only propose).
    pub apply: Option<bool>,
    /// How much stricter than grouping the re-clustering is (default 0.1).
    pub strictness: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct SplitOut {
    pub groups: Vec<Vec<i64>>,
    /// The people made by applying it.
    pub created: Vec<Person>,
}

/// Proposes sub-groups of a person's faces, re-clustered more strictly; `?apply=true` moves
/// all but the largest to new people (they never rejoin this one).
#[utoipa::path(post, path = "/v1/library/people/{id}/split", tag = "library", params(SplitQuery),
    responses((status = 200, description = "{groups, created}"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn split_person(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<SplitQuery>,
) -> Result<Json<SplitOut>, ApiError> {
    let library = library(&state)?;
    let out = blocking(move || {
        let groups = propose_split(library.as_ref(), id, query.strictness.unwrap_or(0.1))?;
        let mut created = Vec::new();
        if query.apply.unwrap_or(false) && groups.len() > 1 {
            for group in &groups[1..] {
                created.push(library.split_person(id, group)?);
            }
        }
        Ok::<_, faceprint::Error>(SplitOut { groups, created })
    })
    .await??;
    Ok(Json(out))
}

/// Takes a face from a person; it never rejoins that person.
#[utoipa::path(delete, path = "/v1/library/people/{id}/faces/{face}", tag = "library",
    responses((status = 200, description = "the person"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn remove_face(
    State(state): State<AppState>,
    ApiPath((id, face)): ApiPath<(i64, i64)>,
) -> Result<Json<Person>, ApiError> {
    let library = library(&state)?;
    Ok(Json(
        blocking(move || {
            library.remove_face(id, face)?;
            library.person(id)
        })
        .await??,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Search with this gallery subject's templates instead of a photo (GET).
    pub subject: Option<String>,
    /// Most photos (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Lowest similarity of a match (default: the model's verification threshold).
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct HitOut {
    pub photo_id: i64,
    pub path: Option<String>,
    pub paths: Vec<String>,
    pub similarity: f32,
    pub face_id: i64,
    pub bbox: [f32; 4],
    pub person: Option<i64>,
}

impl From<PhotoHit> for HitOut {
    fn from(hit: PhotoHit) -> Self {
        let b = hit.bbox;
        HitOut {
            photo_id: hit.photo.id,
            path: hit.photo.paths.first().cloned(),
            paths: hit.photo.paths,
            similarity: hit.similarity,
            face_id: hit.face_id,
            bbox: [b.x1, b.y1, b.x2, b.y2],
            person: hit.person,
        }
    }
}

fn search_with(state: &AppState, queries: Vec<Vec<f32>>, query: &SearchQuery) -> Result<Vec<HitOut>, ApiError> {
    let library = library(state)?;
    let threshold = query.threshold.unwrap_or(state.engine.threshold());
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let hits = faceprint::library::search_photos(
        state.gallery.as_ref(),
        library.as_ref(),
        state.engine.model_id(),
        &queries,
        threshold,
        limit,
    )?;
    Ok(hits.into_iter().map(HitOut::from).collect())
}

/// Photos where the person of the posted photo (its largest face) appears, best first.
#[utoipa::path(post, path = "/v1/library/search", tag = "library", params(SearchQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, description = "[{photo_id, path, paths, similarity, face_id, bbox, person}]"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn search_by_photo(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
    request: Request,
) -> Result<Json<Vec<HitOut>>, ApiError> {
    library(&state)?;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let engine = state.engine.clone();
    let probe = infer(&state, move || {
        let _share = share;
        let faces = engine.faces_in_bytes(&bytes, FaceSelect::Largest, true)?;
        Ok(faces.embedding(0)?.vector.clone())
    })
    .await?;
    let state2 = state.clone();
    Ok(Json(blocking(move || search_with(&state2, vec![probe], &query)).await??))
}

/// Photos where a gallery subject (a named person, or anyone enrolled) appears, best first.
#[utoipa::path(get, path = "/v1/library/search", tag = "library", params(SearchQuery),
    responses((status = 200, description = "[{photo_id, path, paths, similarity, face_id, bbox, person}]"), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn search_by_subject(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<HitOut>>, ApiError> {
    let Some(subject) = query.subject.clone() else {
        return Err(ApiError::bad_request("bad_query", "give ?subject=NAME, or POST a photo"));
    };
    let state2 = state.clone();
    let hits = blocking(move || {
        let queries = faceprint::library::subject_probes(state2.gallery.as_ref(), &SubjectKey::parse(&subject))?;
        search_with(&state2, queries, &query)
    })
    .await??;
    Ok(Json(hits))
}
