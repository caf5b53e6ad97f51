//! The OpenAPI description, generated from the handlers' annotations and the body types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::schema;

#[derive(OpenApi)]
#[openapi(
    info(title = "faceprint", description = "Face detection, recognition, analysis and a gallery of people, over HTTP. Every endpoint but /healthz, /readyz and the page needs `Authorization: Bearer <key>` (`faceprint keys create`); read keys may detect, compare, search and list, write keys may also enrol and delete."),
    paths(
        crate::routes::engine::detect,
        crate::routes::engine::embed,
        crate::routes::engine::compare,
        crate::routes::engine::analyze,
        crate::routes::gallery::identify,
        crate::routes::gallery::verify,
        crate::routes::gallery::list_subjects,
        crate::routes::gallery::create_subject,
        crate::routes::gallery::get_subject,
        crate::routes::gallery::update_subject,
        crate::routes::gallery::delete_subject,
        crate::routes::gallery::enrol,
        crate::routes::gallery::delete_face,
        crate::routes::library::status,
        crate::routes::library::people,
        crate::routes::library::person_faces,
        crate::routes::library::face_crop,
        crate::routes::library::name_person,
        crate::routes::library::merge_people,
        crate::routes::library::split_person,
        crate::routes::library::remove_face,
        crate::routes::library::search_by_photo,
        crate::routes::library::search_by_subject,
        crate::routes::system::healthz,
        crate::routes::system::readyz,
        crate::routes::system::metrics,
        crate::routes::system::openapi,
    ),
    components(schemas(
        schema::FaceOut, schema::ImageOut, schema::CompareOut, schema::CandidateOut,
        schema::IdentifiedOut, schema::IdentifyOut, schema::VerifyOut, schema::SubjectOut, schema::FaceRecordOut,
        schema::SubjectDetailOut, schema::NewSubjectIn, schema::PatchSubjectIn, schema::EnrolledOut,
        schema::DeletedOut, schema::LibraryStatusOut, schema::LibraryCountsOut, schema::FileErrorOut,
        schema::PersonOut, schema::SplitOut, schema::PhotoHitOut, schema::Health, schema::DeviceInfo, crate::routes::library::NameIn, crate::routes::library::MergeIn, crate::ErrorBody, crate::error::ErrorDetail,
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The description as served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
