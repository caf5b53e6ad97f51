//! Gallery endpoints: identify, verify, subjects, enrolment, face deletion.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use faceprint::analysis::{IssueSet, QualityIssue};
use faceprint::{DEFAULT_COLLECTION, EnrolPolicy, FaceSelect, SubjectKey};

use super::engine::infer;
use super::schema::{
    DeletedOut, EnrolQuery, EnrolledOut, FaceRecordOut, IdentifyOut, IdentifyQuery, NewSubjectIn, PageQuery,
    PatchSubjectIn, SubjectDetailOut, SubjectOut, VerifyOut, parse_select,
};
use super::{DEFAULT_PAGE, MAX_PAGE};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::images::read_image;
use crate::pool::blocking;
use crate::{ApiError, AppState};

/// Who is in the photo? Every face: the top-k subjects and a match, or `null` (unknown).
#[utoipa::path(post, path = "/v1/identify", tag = "gallery", params(IdentifyQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = IdentifyOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn identify(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<IdentifyQuery>,
    request: Request,
) -> Result<Json<IdentifyOut>, ApiError> {
    let collection = query.collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_owned());
    let k = query.k.unwrap_or(5).clamp(1, 100);
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let found = infer(&state, move || {
        let _share = share;
        engine.identify_bytes(gallery.as_ref(), &collection, &bytes, k)
    })
    .await?;
    Ok(Json(IdentifyOut::new(&found)))
}

/// Is the face in the photo this enrolled subject?
#[utoipa::path(post, path = "/v1/verify", tag = "gallery", params(super::schema::VerifyQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = VerifyOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<super::schema::VerifyQuery>,
    request: Request,
) -> Result<Json<VerifyOut>, ApiError> {
    let collection = query.collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_owned());
    let select = parse_select(query.select.as_deref(), FaceSelect::Largest)?;
    let key = SubjectKey::parse(&query.subject);
    // An unknown subject is reported before any model runs.
    let (gallery, c, k) = (state.gallery.clone(), collection.clone(), key.clone());
    blocking(move || gallery.subject(&c, &k)).await??;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let verdict = infer(&state, move || {
        let _share = share;
        let faces = engine.analyse_bytes(&bytes, select)?;
        engine.verify_against(gallery.as_ref(), &collection, &key, &faces)
    })
    .await?;
    Ok(Json(verdict.into()))
}

/// The subjects of the collection by id, a page at a time: `?limit=` (default 100, at most
/// 1000) after `?after=` (an id). A full page carries `Link: <…?after=ID&limit=N>; rel="next"`.
#[utoipa::path(get, path = "/v1/collections/{collection}/subjects", tag = "subjects", params(PageQuery),
    responses((status = 200, body = Vec<SubjectOut>), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn list_subjects(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let gallery = state.gallery.clone();
    let c = collection.clone();
    let subjects = blocking(move || gallery.subjects_page(&c, page.after, limit)).await??;
    let mut headers = axum::http::HeaderMap::new();
    if let (true, Some(last)) = (subjects.len() == limit, subjects.last()) {
        let next = format!(
            "</v1/collections/{}/subjects?after={}&limit={limit}>; rel=\"next\"",
            utf8_percent_encode(&collection),
            last.id
        );
        if let Ok(value) = axum::http::HeaderValue::from_str(&next) {
            headers.insert(axum::http::header::LINK, value);
        }
    }
    Ok((headers, Json(subjects.into_iter().map(SubjectOut::from).collect::<Vec<_>>())))
}

/// A path segment, percent-encoded (collection names may hold any printable character).
fn utf8_percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A new subject without faces; returns it with its id.
#[utoipa::path(post, path = "/v1/collections/{collection}/subjects", tag = "subjects", request_body = NewSubjectIn,
    responses((status = 201, body = SubjectOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn create_subject(
    State(state): State<AppState>,
    ApiPath(collection): ApiPath<String>,
    ApiJson(body): ApiJson<NewSubjectIn>,
) -> Result<(StatusCode, Json<SubjectOut>), ApiError> {
    let gallery = state.gallery.clone();
    let subject = blocking(move || gallery.create_subject(&collection, &body.name, body.metadata)).await??;
    Ok((StatusCode::CREATED, Json(subject.into())))
}

/// One subject and its face templates.
#[utoipa::path(get, path = "/v1/collections/{collection}/subjects/{id}", tag = "subjects",
    responses((status = 200, body = SubjectDetailOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn get_subject(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, i64)>,
) -> Result<Json<SubjectDetailOut>, ApiError> {
    let gallery = state.gallery.clone();
    let (subject, faces) = blocking(move || {
        let key = SubjectKey::Id(id);
        Ok::<_, faceprint::GalleryError>((gallery.subject(&collection, &key)?, gallery.faces(&collection, &key)?))
    })
    .await??;
    let face_records = faces.into_iter().map(FaceRecordOut::from).collect();
    Ok(Json(SubjectDetailOut { subject: subject.into(), face_records }))
}

/// Renames a subject or replaces its metadata.
#[utoipa::path(patch, path = "/v1/collections/{collection}/subjects/{id}", tag = "subjects", request_body = PatchSubjectIn,
    responses((status = 200, body = SubjectOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn update_subject(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<PatchSubjectIn>,
) -> Result<Json<SubjectOut>, ApiError> {
    if body.name.is_none() && body.metadata.is_none() {
        return Err(ApiError::bad_request("bad_json", "give a name, metadata or both"));
    }
    let gallery = state.gallery.clone();
    let subject = blocking(move || {
        let key = SubjectKey::Id(id);
        let mut subject = gallery.subject(&collection, &key)?;
        if let Some(name) = body.name {
            subject = gallery.rename_subject(&collection, &key, &name)?;
        }
        if let Some(metadata) = body.metadata {
            subject = gallery.set_metadata(&collection, &key, metadata)?;
        }
        Ok::<_, faceprint::GalleryError>(subject)
    })
    .await??;
    Ok(Json(subject.into()))
}

/// Deletes a subject and all its faces.
#[utoipa::path(delete, path = "/v1/collections/{collection}/subjects/{id}", tag = "subjects",
    responses((status = 200, body = DeletedOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_subject(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, i64)>,
) -> Result<Json<DeletedOut>, ApiError> {
    let gallery = state.gallery.clone();
    let faces = blocking(move || gallery.delete_subject(&collection, &SubjectKey::Id(id))).await??;
    Ok(Json(DeletedOut { deleted: id, faces }))
}

/// Enrols the face of a photo under the subject (through the quality gate unless `force`).
#[utoipa::path(post, path = "/v1/collections/{collection}/subjects/{id}/faces", tag = "subjects", params(EnrolQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 201, body = EnrolledOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn enrol(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, i64)>,
    ApiQuery(query): ApiQuery<EnrolQuery>,
    request: Request,
) -> Result<(StatusCode, Json<EnrolledOut>), ApiError> {
    let select = parse_select(query.select.as_deref(), FaceSelect::All)?;
    let mut policy = EnrolPolicy { select, ..EnrolPolicy::default() };
    if let (Some(gate), Some(codes)) = (policy.quality_gate.as_mut(), query.refuse.as_deref()) {
        gate.refuse = parse_refusals(codes)?;
    }
    if query.force.unwrap_or(false) {
        policy.quality_gate = None;
    }
    // An unknown subject is reported before any model runs; the face is then added by id inside
    // the add's transaction, so a subject renamed meanwhile keeps it and one deleted is a 404.
    let (gallery, c) = (state.gallery.clone(), collection.clone());
    blocking(move || gallery.subject(&c, &SubjectKey::Id(id))).await??;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let enrolled = infer(&state, move || {
        let _share = share;
        engine.enrol_bytes(gallery.as_ref(), &collection, &SubjectKey::Id(id), &bytes, &policy)
    })
    .await?;
    let status = if enrolled.added.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(EnrolledOut::from(&enrolled))))
}

/// Deletes one face template.
#[utoipa::path(delete, path = "/v1/collections/{collection}/faces/{id}", tag = "subjects",
    responses((status = 200, body = DeletedOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_face(
    State(state): State<AppState>,
    ApiPath((collection, id)): ApiPath<(String, i64)>,
) -> Result<Json<DeletedOut>, ApiError> {
    let gallery = state.gallery.clone();
    blocking(move || gallery.delete_face(&collection, id)).await??;
    Ok(Json(DeletedOut { deleted: id, faces: 1 }))
}

/// `?refuse=eyes_closed,profile_pose`: the quality findings that refuse rather than warn.
pub(crate) fn parse_refusals(codes: &str) -> Result<IssueSet, ApiError> {
    let mut set = IssueSet::empty();
    for code in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let issue = QualityIssue::from_code(code)
            .ok_or_else(|| ApiError::bad_request("bad_refuse", format!("unknown quality finding {code:?}")))?;
        set = set.with(issue);
    }
    Ok(set)
}
