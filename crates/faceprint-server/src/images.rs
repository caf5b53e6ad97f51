//! Images in requests: multipart fields (`image`, or `image1` and `image2`), a raw body
//! (`image/*` or `application/octet-stream`), or JSON with base64 strings under the same names.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use base64::Engine as _;

use crate::ApiError;

/// Reads the named images from the request, in the order of `names`.
pub async fn read_images(request: Request, names: &[&str], limit: usize) -> Result<Vec<Vec<u8>>, ApiError> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
        let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
        while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, limit))? {
            let Some(slot) = field.name().and_then(|n| names.iter().position(|want| *want == n)) else {
                continue;
            };
            found[slot] = Some(field.bytes().await.map_err(|e| multipart_error(e, limit))?.to_vec());
        }
        return collect(found, names);
    }
    let body = Bytes::from_request(request, &()).await.map_err(|e| body_error(e.status(), e.body_text(), limit))?;
    if content_type.starts_with("application/json") {
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
        let found = names
            .iter()
            .map(|name| match value.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(text)) => base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map(Some)
                    .map_err(|e| ApiError::bad_request("bad_base64", format!("{name}: {e}"))),
                Some(_) => Err(ApiError::bad_request("bad_json", format!("{name} must be a base64 string"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return collect(found, names);
    }
    if names.len() != 1 {
        return Err(ApiError::bad_request(
            "missing_image",
            format!("send the images {} as multipart fields or base64 JSON", names.join(" and ")),
        ));
    }
    Ok(vec![body.to_vec()])
}

/// The one image of a request (multipart field or JSON key `image`, or the raw body).
pub async fn read_image(request: Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut images = read_images(request, &["image"], limit).await?;
    Ok(images.swap_remove(0))
}

fn collect(found: Vec<Option<Vec<u8>>>, names: &[&str]) -> Result<Vec<Vec<u8>>, ApiError> {
    found
        .into_iter()
        .zip(names)
        .map(|(image, name)| image.ok_or_else(|| ApiError::bad_request("missing_image", format!("no image {name:?}"))))
        .collect()
}

fn multipart_error(error: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    body_error(error.status(), error.body_text(), limit)
}

fn body_error(status: axum::http::StatusCode, text: String, limit: usize) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge { limit }
    } else {
        ApiError::bad_request("bad_body", text)
    }
}
