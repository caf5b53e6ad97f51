//! Stateless engine endpoints: detect, embed, compare, analyze.

use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use faceprint::FaceSelect;

use super::schema::{CompareOut, ImageOut, SelectQuery, parse_select};
use crate::extract::ApiQuery;
use crate::images::{read_image, read_images};
use crate::{ApiError, AppState};

/// Runs `work` on the inference pool, timing it and tracking the queue.
pub(crate) async fn infer<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> Result<T, faceprint::Error> + Send + 'static,
) -> Result<T, ApiError> {
    let metrics = state.metrics.clone();
    let result = state
        .pool
        .run(move || {
            let started = Instant::now();
            let result = work();
            metrics.inference.observe(started.elapsed().as_secs_f64());
            result
        })
        .await;
    state.metrics.queue_depth.set(state.pool.depth() as i64);
    if matches!(result, Err(ApiError::QueueFull)) {
        state.metrics.queue_rejections.inc();
    }
    Ok(result??)
}

/// Every face: box, score, 5 landmarks.
#[utoipa::path(post, path = "/v1/detect", tag = "engine", params(SelectQuery),
    request_body(content = Vec<u8>, description = "multipart field `image`, a raw image body, or JSON {\"image\": base64}", content_type = "image/jpeg"),
    responses((status = 200, body = ImageOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn detect(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SelectQuery>,
    request: Request,
) -> Result<Json<ImageOut>, ApiError> {
    faces_of(state, query, request, false).await
}

/// `/v1/detect` and `/v1/embed`: the faces of one image, with or without embeddings.
async fn faces_of(
    state: AppState,
    query: SelectQuery,
    request: Request,
    embed: bool,
) -> Result<Json<ImageOut>, ApiError> {
    let select = parse_select(query.select.as_deref(), FaceSelect::All)?;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let engine = state.engine.clone();
    let faces = infer(&state, move || {
        let _share = share;
        engine.faces_in_bytes(&bytes, select, embed)
    })
    .await?;
    Ok(Json(ImageOut::new(&faces, embed)))
}

/// Every face with its faceprint.
#[utoipa::path(post, path = "/v1/embed", tag = "engine", params(SelectQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = ImageOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn embed(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SelectQuery>,
    request: Request,
) -> Result<Json<ImageOut>, ApiError> {
    faces_of(state, query, request, true).await
}

/// Are the faces of `image1` and `image2` the same person?
#[utoipa::path(post, path = "/v1/compare", tag = "engine", params(SelectQuery),
    request_body(content = Vec<u8>, description = "multipart fields `image1` and `image2`, or JSON {\"image1\": base64, \"image2\": base64}", content_type = "multipart/form-data"),
    responses((status = 200, body = CompareOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn compare(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SelectQuery>,
    request: Request,
) -> Result<Json<CompareOut>, ApiError> {
    let select = parse_select(query.select.as_deref(), FaceSelect::Largest)?;
    let read = read_images(request, &["image1", "image2"], state.config.max_body_bytes, &state.bodies).await?;
    let engine = state.engine.clone();
    let verdict = infer(&state, move || {
        let (images, _share) = (read.images, read.share);
        let a = engine.faces_in_bytes(&images[0], select, true)?;
        let b = engine.faces_in_bytes(&images[1], select, true)?;
        engine.compare(a.embedding(0)?, b.embedding(0)?)
    })
    .await?;
    Ok(Json(verdict.into()))
}

/// Every face's 106 landmarks, head pose, eye openness and quality.
#[utoipa::path(post, path = "/v1/analyze", tag = "engine", params(SelectQuery),
    request_body(content = Vec<u8>, description = "as /v1/detect", content_type = "image/jpeg"),
    responses((status = 200, body = ImageOut), (status = "4XX", body = crate::ErrorBody)), security(("bearer" = [])))]
pub async fn analyze(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SelectQuery>,
    request: Request,
) -> Result<Json<ImageOut>, ApiError> {
    let select = parse_select(query.select.as_deref(), FaceSelect::All)?;
    let (bytes, share) = read_image(request, state.config.max_body_bytes, &state.bodies).await?;
    let engine = state.engine.clone();
    let faces = infer(&state, move || {
        let _share = share;
        engine.analyse_bytes(&bytes, select)
    })
    .await?;
    Ok(Json(ImageOut::new(&faces, false)))
}
