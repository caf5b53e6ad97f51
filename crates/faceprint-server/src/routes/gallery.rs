//! Gallery endpoints: identify, verify, subjects, enrolment, face deletion.

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use faceprint::analysis::{IssueSet, QualityIssue};
use faceprint::{DEFAULT_COLLECTION, EnrolPolicy, FaceSelect, SubjectKey};

use super::engine::infer;
use super::schema::{
    CandidateOut, DeletedOut, EnrolQuery, EnrolledOut, FaceRecordOut, IdentifiedOut, IdentifyOut, IdentifyQuery,
    NewSubjectIn, PatchSubjectIn, SubjectDetailOut, SubjectOut, VerifyOut, bbox, parse_select,
};
use crate::images::read_image;
use crate::pool::blocking;
use crate::{ApiError, AppState};

/// Who is in the photo? Every face: the top-k subjects and a match, or `null` (unknown).
#[utoipa::path(post, path = "/v1/identify", tag = "gallery", params(IdentifyQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = IdentifyOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn identify(
    State(state): State<AppState>,
    Query(query): Query<IdentifyQuery>,
    request: Request,
) -> Result<Json<IdentifyOut>, ApiError> {
    let collection = query.collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_owned());
    let k = query.k.unwrap_or(5).clamp(1, 100);
    let bytes = read_image(request, state.config.max_body_bytes).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let found = infer(&state, move || engine.identify_bytes(gallery.as_ref(), &collection, &bytes, k)).await?;
    let faces = found
        .into_iter()
        .map(|f| IdentifiedOut {
            bbox: bbox(f.detection.bbox),
            score: f.detection.score,
            candidates: f
                .candidates
                .iter()
                .map(|c| CandidateOut {
                    subject: c.subject.clone(),
                    subject_id: c.subject_id,
                    similarity: c.similarity,
                })
                .collect(),
            matched: f.matched.map(|c| c.subject),
            quality: f.quality,
            threshold: f.threshold,
        })
        .collect();
    Ok(Json(IdentifyOut { faces }))
}

/// Is the face in the photo this enrolled subject?
#[utoipa::path(post, path = "/v1/verify", tag = "gallery", params(super::schema::VerifyQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = VerifyOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    Query(query): Query<super::schema::VerifyQuery>,
    request: Request,
) -> Result<Json<VerifyOut>, ApiError> {
    let collection = query.collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_owned());
    let select = parse_select(query.select.as_deref(), FaceSelect::Largest)?;
    let key = SubjectKey::parse(&query.subject);
    // An unknown subject is reported before any model runs.
    let (gallery, c, k) = (state.gallery.clone(), collection.clone(), key.clone());
    blocking(move || gallery.subject(&c, &k)).await??;
    let bytes = read_image(request, state.config.max_body_bytes).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let verdict = infer(&state, move || {
        let faces = engine.analyse_bytes(&bytes, select)?;
        engine.verify_against(gallery.as_ref(), &collection, &key, &faces)
    })
    .await?;
    Ok(Json(VerifyOut {
        subject: verdict.subject.name,
        similarity: verdict.similarity,
        threshold: verdict.threshold,
        same: verdict.same,
        quality: verdict.quality,
    }))
}

/// Every subject of the collection.
#[utoipa::path(get, path = "/v1/collections/{collection}/subjects", tag = "subjects",
    responses((status = 200, body = Vec<SubjectOut>), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn list_subjects(
    State(state): State<AppState>,
    Path(collection): Path<String>,
) -> Result<Json<Vec<SubjectOut>>, ApiError> {
    let gallery = state.gallery.clone();
    let subjects = blocking(move || gallery.subjects(&collection)).await??;
    Ok(Json(subjects.into_iter().map(SubjectOut::from).collect()))
}

/// A new subject without faces; returns it with its id.
#[utoipa::path(post, path = "/v1/collections/{collection}/subjects", tag = "subjects", request_body = NewSubjectIn,
    responses((status = 201, body = SubjectOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn create_subject(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Result<Json<NewSubjectIn>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<SubjectOut>), ApiError> {
    let Json(body) = body.map_err(|e| json_error(e, state.config.max_body_bytes))?;
    let gallery = state.gallery.clone();
    let subject = blocking(move || gallery.create_subject(&collection, &body.name, body.metadata)).await??;
    Ok((StatusCode::CREATED, Json(subject.into())))
}

fn json_error(rejection: axum::extract::rejection::JsonRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge { limit };
    }
    ApiError::bad_request("bad_json", rejection.body_text())
}

/// One subject and its face templates.
#[utoipa::path(get, path = "/v1/collections/{collection}/subjects/{id}", tag = "subjects",
    responses((status = 200, body = SubjectDetailOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn get_subject(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, i64)>,
) -> Result<Json<SubjectDetailOut>, ApiError> {
    let gallery = state.gallery.clone();
    let (subject, faces) = blocking(move || {
        let key = SubjectKey::Id(id);
        Ok::<_, faceprint::GalleryError>((gallery.subject(&collection, &key)?, gallery.faces(&collection, &key)?))
    })
    .await??;
    let face_records = faces
        .into_iter()
        .map(|f| FaceRecordOut {
            id: f.id,
            model: f.model.to_string(),
            detection_score: f.detection_score,
            bbox: bbox(f.bbox),
            enrolled_at: f.enrolled_at,
        })
        .collect();
    Ok(Json(SubjectDetailOut { subject: subject.into(), face_records }))
}

/// Renames a subject or replaces its metadata.
#[utoipa::path(patch, path = "/v1/collections/{collection}/subjects/{id}", tag = "subjects", request_body = PatchSubjectIn,
    responses((status = 200, body = SubjectOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn update_subject(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, i64)>,
    body: Result<Json<PatchSubjectIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SubjectOut>, ApiError> {
    let Json(body) = body.map_err(|e| json_error(e, state.config.max_body_bytes))?;
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
    Path((collection, id)): Path<(String, i64)>,
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
    Path((collection, id)): Path<(String, i64)>,
    Query(query): Query<EnrolQuery>,
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
    let (gallery, c) = (state.gallery.clone(), collection.clone());
    let subject = blocking(move || gallery.subject(&c, &SubjectKey::Id(id))).await??;
    let bytes = read_image(request, state.config.max_body_bytes).await?;
    let (engine, gallery) = (state.engine.clone(), state.gallery.clone());
    let enrolled =
        infer(&state, move || engine.enrol_bytes(gallery.as_ref(), &collection, &subject.name, &bytes, &policy))
            .await?;
    let status = if enrolled.added.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(EnrolledOut {
            face_id: enrolled.added.face_id,
            subject_id: enrolled.added.subject_id,
            duplicate: enrolled.added.duplicate,
            bbox: bbox(enrolled.detection.bbox),
            score: enrolled.detection.score,
            quality: enrolled.analysis.map(|a| a.quality),
            warnings: enrolled.warnings.iter().map(|i| i.to_string()).collect(),
        }),
    ))
}

/// Deletes one face template.
#[utoipa::path(delete, path = "/v1/collections/{collection}/faces/{id}", tag = "subjects",
    responses((status = 200, body = DeletedOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_face(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, i64)>,
) -> Result<Json<DeletedOut>, ApiError> {
    let gallery = state.gallery.clone();
    blocking(move || gallery.delete_face(&collection, id)).await??;
    Ok(Json(DeletedOut { deleted: id, faces: 1 }))
}

/// `?refuse=eyes_closed,profile_pose`: the quality findings that refuse rather than warn.
fn parse_refusals(codes: &str) -> Result<IssueSet, ApiError> {
    let mut set = IssueSet::empty();
    for code in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let issue = QualityIssue::from_code(code)
            .ok_or_else(|| ApiError::bad_request("bad_refuse", format!("unknown quality finding {code:?}")))?;
        set = set.with(issue);
    }
    Ok(set)
}
