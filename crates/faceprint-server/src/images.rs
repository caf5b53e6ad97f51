//! Images in requests: multipart fields (`image`, or `image1` and `image2`), a raw body
//! (`image/*` or `application/octet-stream`), or JSON with base64 strings under the same names.
//!
//! Memory: a body is read only once it holds a share of the server's body budget (twice its
//! declared length: the body plus the images taken out of it), and that share is held until the
//! request ends. JSON is parsed into a typed struct that skips unknown fields without building
//! them, so the memory a body costs is bounded by its length, whatever it contains.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// How long a request waits for its share of the body budget before `429 busy`.
const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// The bytes of request bodies (and the images taken out of them) held at once.
#[derive(Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

/// A request's share of the body budget, given back when dropped.
#[derive(Debug)]
pub struct BodyShare {
    _permit: OwnedSemaphorePermit,
}

impl BodyBudget {
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self { permits: Arc::new(Semaphore::new(total)), total }
    }

    /// Bytes of the budget free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    async fn reserve(&self, bytes: usize) -> Result<BodyShare, ApiError> {
        let bytes = bytes.clamp(1, self.total) as u32;
        let acquire = self.permits.clone().acquire_many_owned(bytes);
        match tokio::time::timeout(BUDGET_WAIT, acquire).await {
            Ok(Ok(permit)) => Ok(BodyShare { _permit: permit }),
            Ok(Err(_)) | Err(_) => Err(ApiError::BodiesBusy),
        }
    }
}

/// A request's images, and the share of the budget that holds them.
#[derive(Debug)]
pub struct Images {
    pub images: Vec<Bytes>,
    pub share: BodyShare,
}

/// Reads a whole body of at most `limit` bytes, under a share of `budget`.
pub async fn read_body(request: Request, limit: usize, budget: &BodyBudget) -> Result<(Bytes, BodyShare), ApiError> {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    // Without a declared length the body may be as long as the limit.
    let expected = declared.map_or(limit, |n| n as usize);
    let share = budget.reserve(expected.saturating_mul(2)).await?;
    let mut body: Body = request.into_body();
    let mut bytes = Vec::with_capacity(expected);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request("bad_body", e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit || bytes.len() + data.len() > expected {
                // More than declared or allowed: the share covers only what was declared.
                return Err(ApiError::BodyTooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok((Bytes::from(bytes), share))
}

/// Reads the named images from the request, in the order of `names`.
pub async fn read_images(
    request: Request,
    names: &[&str],
    limit: usize,
    budget: &BodyBudget,
) -> Result<Images, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (body, share) = read_body(request, limit, budget).await?;
    let images = parse_images(content_type.as_deref(), body, names).await?;
    Ok(Images { images, share })
}

/// The one image of a request (multipart field or JSON key `image`, or the raw body).
pub async fn read_image(request: Request, limit: usize, budget: &BodyBudget) -> Result<(Bytes, BodyShare), ApiError> {
    let mut read = read_images(request, &["image"], limit, budget).await?;
    Ok((read.images.swap_remove(0), read.share))
}

/// The images named `names` in a whole body of type `content_type`. Public for the fuzzer.
pub async fn parse_images(content_type: Option<&str>, body: Bytes, names: &[&str]) -> Result<Vec<Bytes>, ApiError> {
    let media = content_type.unwrap_or("").to_ascii_lowercase();
    if media.starts_with("multipart/form-data") {
        return parse_multipart(content_type.unwrap_or(""), body, names).await;
    }
    if media.starts_with("application/json") {
        return parse_json(&body, names);
    }
    if names.len() != 1 {
        return Err(ApiError::bad_request(
            "missing_image",
            format!("send the images {} as multipart fields or base64 JSON", names.join(" and ")),
        ));
    }
    Ok(vec![body])
}

async fn parse_multipart(content_type: &str, body: Bytes, names: &[&str]) -> Result<Vec<Bytes>, ApiError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| ApiError::bad_request("bad_multipart", e.to_string()))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut found: Vec<Option<Bytes>> = vec![None; names.len()];
    let bad = |e: multer::Error| ApiError::bad_request("bad_multipart", e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let Some(slot) = field.name().and_then(|n| names.iter().position(|want| *want == n)) else {
            continue;
        };
        found[slot] = Some(field.bytes().await.map_err(bad)?);
    }
    collect(found, names)
}

/// `{"image": base64}` or `{"image1": …, "image2": …}`; other fields are skipped unread.
#[derive(Debug, Deserialize)]
struct JsonImages<'a> {
    #[serde(borrow, default)]
    image: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    image1: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    image2: Option<Cow<'a, str>>,
}

fn parse_json(body: &[u8], names: &[&str]) -> Result<Vec<Bytes>, ApiError> {
    let parsed: JsonImages<'_> =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let found = names
        .iter()
        .map(|name| {
            let text = match *name {
                "image" => parsed.image.as_deref(),
                "image1" => parsed.image1.as_deref(),
                "image2" => parsed.image2.as_deref(),
                _ => None,
            };
            text.map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map(Bytes::from)
                    .map_err(|e| ApiError::bad_request("bad_base64", format!("{name}: {e}")))
            })
            .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    collect(found, names)
}

fn collect(found: Vec<Option<Bytes>>, names: &[&str]) -> Result<Vec<Bytes>, ApiError> {
    found
        .into_iter()
        .zip(names)
        .map(|(image, name)| image.ok_or_else(|| ApiError::bad_request("missing_image", format!("no image {name:?}"))))
        .collect()
}
