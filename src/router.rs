//! The one route table: every URL the catalog answers, the methods each
//! accepts, and the JSON 404/405 for everything else. Pure, so the table is
//! unit-tested on the host; `api::dispatch` maps each [`Route`] to its handler.

use crate::domain::image::ImageId;
use crate::domain::wire::documents::SchemaName;
use crate::error::ApiError;

/// A request the catalog knows how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /` (and unknown `/vN` prefixes): 300 with the version list.
    VersionsMultipleChoice,
    /// `GET /versions`: 200 with the version list.
    Versions,
    /// `GET /healthcheck`.
    Healthcheck,
    /// `GET /v2/images`.
    ListImages,
    /// `POST /v2/images`.
    CreateImage,
    /// `GET /v2/images/{id}`.
    ShowImage(ImageId),
    /// `PATCH /v2/images/{id}`.
    UpdateImage(ImageId),
    /// `DELETE /v2/images/{id}`.
    DeleteImage(ImageId),
    /// `PUT /v2/images/{id}/file`.
    UploadData(ImageId),
    /// `GET /v2/images/{id}/file`.
    DownloadData(ImageId),
    /// `PUT /v2/images/{id}/tags/{tag}`.
    AddTag(ImageId, String),
    /// `DELETE /v2/images/{id}/tags/{tag}`.
    DeleteTag(ImageId, String),
    /// `POST /v2/images/{id}/actions/deactivate`.
    Deactivate(ImageId),
    /// `POST /v2/images/{id}/actions/reactivate`.
    Reactivate(ImageId),
    /// `GET /v2/images/{id}/tasks`.
    ImageTasks(ImageId),
    /// `PUT /v2/images/{id}/stage`: stage data for glance-direct.
    StageData(ImageId),
    /// `POST /v2/images/{id}/import`.
    Import(ImageId),
    /// `OPTIONS /v2/images/{id}/uploads[/{upload}]`: what the resumable
    /// upload protocol (tus) supports here.
    UploadOptions,
    /// `POST /v2/images/{id}/uploads`: create a resumable upload (tus).
    CreateUpload(ImageId),
    /// `HEAD /v2/images/{id}/uploads/{upload}`: its offset.
    UploadOffset(ImageId, String),
    /// `PATCH /v2/images/{id}/uploads/{upload}`: more bytes.
    ResumeUpload(ImageId, String),
    /// `DELETE /v2/images/{id}/uploads/{upload}`: terminate it.
    TerminateUpload(ImageId, String),
    /// `POST /v2/images/{id}/locations` (v2.17).
    AddLocation(ImageId),
    /// `GET /v2/images/{id}/locations` (v2.17).
    ListLocations(ImageId),
    /// `DELETE /v2/stores/{store}/{image}`.
    DeleteFromStore(String, ImageId),
    /// `GET /v2/tasks`.
    ListTasks,
    /// `POST /v2/tasks`.
    CreateTask,
    /// `GET /v2/tasks/{id}`.
    ShowTask(String),
    /// `GET /v2/images/{id}/members`.
    ListMembers(ImageId),
    /// `POST /v2/images/{id}/members`.
    AddMember(ImageId),
    /// `GET /v2/images/{id}/members/{member}`.
    ShowMember(ImageId, String),
    /// `PUT /v2/images/{id}/members/{member}`: the member's answer.
    UpdateMember(ImageId, String),
    /// `DELETE /v2/images/{id}/members/{member}`.
    RemoveMember(ImageId, String),
    /// `GET /v2/cache` (v2.14): cached and queued images.
    ListCache,
    /// `DELETE /v2/cache` (v2.14): clear the cache, the queue or both
    /// (`x-image-cache-clear-target`).
    ClearCache,
    /// `PUT /v2/cache/{id}` (v2.14): queue an image for pre-caching.
    QueueCache(ImageId),
    /// `DELETE /v2/cache/{id}` (v2.14): remove an image from the cache and
    /// the queue.
    DeleteCacheEntry(ImageId),
    /// `GET /v2/schemas/{name}`.
    Schema(SchemaName),
    /// `GET /v2/info/import`.
    ImportInfo,
    /// `GET /v2/info/stores`.
    StoresInfo,
    /// `GET /v2/info/stores/detail`.
    StoresDetail,
    /// `GET /v2/info/usage`.
    UsageInfo,
    /// `/v2/metadefs/*`: the metadata definitions catalog.
    Metadef(MetadefRoute),
    /// v1 `GET /v1/images` (also `/images`): public images, brief records.
    V1List,
    /// v1 `GET /v1/images/detail`: public images, full records.
    V1ListDetailed,
    /// v1 `POST /v1/images`: metadata in headers, optional data in the body.
    V1Create,
    /// v1 `HEAD /v1/images/{id}`: metadata as `x-image-meta-*` headers.
    V1Head(ImageId),
    /// v1 `GET /v1/images/{id}`: metadata headers and the data.
    V1Show(ImageId),
    /// v1 `PUT /v1/images/{id}`: update metadata, add data to an empty image.
    V1Update(ImageId),
    /// v1 `DELETE /v1/images/{id}`.
    V1Delete(ImageId),
}

/// A request to the metadata definitions catalog (`/v2/metadefs`). `ns`
/// is a namespace name; the other strings name what the path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadefRoute {
    /// `GET /v2/metadefs/namespaces`.
    ListNamespaces,
    /// `POST /v2/metadefs/namespaces`.
    CreateNamespace,
    /// `GET /v2/metadefs/namespaces/{ns}`.
    ShowNamespace(String),
    /// `PUT /v2/metadefs/namespaces/{ns}`.
    UpdateNamespace(String),
    /// `DELETE /v2/metadefs/namespaces/{ns}`.
    DeleteNamespace(String),
    /// `GET /v2/metadefs/namespaces/{ns}/objects`.
    ListObjects(String),
    /// `POST /v2/metadefs/namespaces/{ns}/objects`.
    CreateObject(String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/objects`.
    DeleteObjects(String),
    /// `GET /v2/metadefs/namespaces/{ns}/objects/{name}`.
    ShowObject(String, String),
    /// `PUT /v2/metadefs/namespaces/{ns}/objects/{name}`.
    UpdateObject(String, String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/objects/{name}`.
    DeleteObject(String, String),
    /// `GET /v2/metadefs/namespaces/{ns}/properties`.
    ListProperties(String),
    /// `POST /v2/metadefs/namespaces/{ns}/properties`.
    CreateProperty(String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/properties`.
    DeleteProperties(String),
    /// `GET /v2/metadefs/namespaces/{ns}/properties/{name}`.
    ShowProperty(String, String),
    /// `PUT /v2/metadefs/namespaces/{ns}/properties/{name}`.
    UpdateProperty(String, String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/properties/{name}`.
    DeleteProperty(String, String),
    /// `GET /v2/metadefs/namespaces/{ns}/tags`.
    ListTags(String),
    /// `POST /v2/metadefs/namespaces/{ns}/tags`: several at once.
    CreateTags(String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/tags`.
    DeleteTags(String),
    /// `POST /v2/metadefs/namespaces/{ns}/tags/{tag}`.
    CreateTag(String, String),
    /// `GET /v2/metadefs/namespaces/{ns}/tags/{tag}`.
    ShowTag(String, String),
    /// `PUT /v2/metadefs/namespaces/{ns}/tags/{tag}`: rename.
    UpdateTag(String, String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/tags/{tag}`.
    DeleteTag(String, String),
    /// `GET /v2/metadefs/namespaces/{ns}/resource_types`.
    ListAssociations(String),
    /// `POST /v2/metadefs/namespaces/{ns}/resource_types`.
    Associate(String),
    /// `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{type}`.
    Dissociate(String, String),
    /// `GET /v2/metadefs/resource_types`.
    ListResourceTypes,
}

/// The routes below `/v2/metadefs`.
fn metadef_candidates(rest: &[&str]) -> Option<Vec<(&'static str, Route)>> {
    use MetadefRoute as M;
    let s = |x: &str| x.to_owned();
    let routes = |list: Vec<(&'static str, MetadefRoute)>| {
        list.into_iter().map(|(method, route)| (method, Route::Metadef(route))).collect()
    };
    Some(routes(match rest {
        ["namespaces"] => vec![("GET", M::ListNamespaces), ("POST", M::CreateNamespace)],
        ["namespaces", ns] => vec![
            ("GET", M::ShowNamespace(s(ns))),
            ("PUT", M::UpdateNamespace(s(ns))),
            ("DELETE", M::DeleteNamespace(s(ns))),
        ],
        ["namespaces", ns, "objects"] => {
            vec![("GET", M::ListObjects(s(ns))), ("POST", M::CreateObject(s(ns))), ("DELETE", M::DeleteObjects(s(ns)))]
        }
        ["namespaces", ns, "objects", name] => vec![
            ("GET", M::ShowObject(s(ns), s(name))),
            ("PUT", M::UpdateObject(s(ns), s(name))),
            ("DELETE", M::DeleteObject(s(ns), s(name))),
        ],
        ["namespaces", ns, "properties"] => vec![
            ("GET", M::ListProperties(s(ns))),
            ("POST", M::CreateProperty(s(ns))),
            ("DELETE", M::DeleteProperties(s(ns))),
        ],
        ["namespaces", ns, "properties", name] => vec![
            ("GET", M::ShowProperty(s(ns), s(name))),
            ("PUT", M::UpdateProperty(s(ns), s(name))),
            ("DELETE", M::DeleteProperty(s(ns), s(name))),
        ],
        ["namespaces", ns, "tags"] => {
            vec![("GET", M::ListTags(s(ns))), ("POST", M::CreateTags(s(ns))), ("DELETE", M::DeleteTags(s(ns)))]
        }
        ["namespaces", ns, "tags", tag] => vec![
            ("GET", M::ShowTag(s(ns), s(tag))),
            ("POST", M::CreateTag(s(ns), s(tag))),
            ("PUT", M::UpdateTag(s(ns), s(tag))),
            ("DELETE", M::DeleteTag(s(ns), s(tag))),
        ],
        ["namespaces", ns, "resource_types"] => {
            vec![("GET", M::ListAssociations(s(ns))), ("POST", M::Associate(s(ns)))]
        }
        ["namespaces", ns, "resource_types", name] => vec![("DELETE", M::Dissociate(s(ns), s(name)))],
        ["resource_types"] => vec![("GET", M::ListResourceTypes)],
        _ => return None,
    }))
}

/// The stand-in id of routes whose image id is not a UUID (never used).
const NO_IMAGE: &str = "00000000-0000-0000-0000-000000000000";

/// Decodes one `%XX`-escaped path segment.
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Picks the route for `method` among those a path accepts, or 405.
fn choose(method: &str, candidates: Vec<(&'static str, Route)>) -> Result<Route, ApiError> {
    let allowed: Vec<&str> = candidates.iter().map(|(m, _)| *m).collect();
    candidates
        .into_iter()
        .find(|(m, _)| *m == method)
        .map(|(_, route)| route)
        .ok_or_else(|| ApiError::method_not_allowed(method, &allowed))
}

fn is_version_prefix(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        !rest.is_empty() && rest.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The v1 routes below `/v1/images` (or `/images`, as in the seed).
fn v1_candidates(rest: &[&str], image_id: &mut impl FnMut(&str) -> ImageId) -> Option<Vec<(&'static str, Route)>> {
    Some(match rest {
        [] => vec![("GET", Route::V1List), ("POST", Route::V1Create)],
        ["detail"] => vec![("GET", Route::V1ListDetailed)],
        [image] => {
            let id = image_id(image);
            vec![
                ("HEAD", Route::V1Head(id.clone())),
                ("GET", Route::V1Show(id.clone())),
                ("PUT", Route::V1Update(id.clone())),
                ("DELETE", Route::V1Delete(id)),
            ]
        }
        _ => return None,
    })
}

/// Resolves a method and path (no query) to a route.
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode_segment).collect();
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let id = |s: &str| s.to_owned();
    // An image id that is not a UUID names no image: 404, once the method
    // is known to be one the path accepts (405 otherwise). Until then its
    // routes carry a stand-in that never leaves this function.
    let mut unknown_image: Option<String> = None;
    let mut image_id = |raw: &str| {
        ImageId::parse(raw).unwrap_or_else(|| {
            unknown_image = Some(raw.to_owned());
            ImageId::parse(NO_IMAGE).expect("the nil UUID")
        })
    };
    let candidates: Vec<(&'static str, Route)> = match parts.as_slice() {
        [] => vec![("GET", Route::VersionsMultipleChoice)],
        ["versions"] => vec![("GET", Route::Versions)],
        ["healthcheck"] => vec![("GET", Route::Healthcheck)],
        // `/v2/images/` names an image with an empty id: 404 for every verb
        // but create, as Glance (Tempest's test_get_image_null_id and
        // test_delete_image_null_id).
        ["v2", "images"] if path.ends_with('/') && method != "POST" => return Err(ApiError::image_not_found("")),
        ["v2", "images"] => vec![("GET", Route::ListImages), ("POST", Route::CreateImage)],
        ["v2", "images", image] => vec![
            ("GET", Route::ShowImage(image_id(image))),
            ("PATCH", Route::UpdateImage(image_id(image))),
            ("DELETE", Route::DeleteImage(image_id(image))),
        ],
        ["v2", "images", image, "file"] => {
            vec![("GET", Route::DownloadData(image_id(image))), ("PUT", Route::UploadData(image_id(image)))]
        }
        ["v2", "images", image, "tags", tag] => {
            vec![
                ("PUT", Route::AddTag(image_id(image), id(tag))),
                ("DELETE", Route::DeleteTag(image_id(image), id(tag))),
            ]
        }
        ["v2", "images", image, "actions", "deactivate"] => vec![("POST", Route::Deactivate(image_id(image)))],
        ["v2", "images", image, "actions", "reactivate"] => vec![("POST", Route::Reactivate(image_id(image)))],
        ["v2", "images", image, "tasks"] => vec![("GET", Route::ImageTasks(image_id(image)))],
        ["v2", "images", image, "stage"] => vec![("PUT", Route::StageData(image_id(image)))],
        ["v2", "images", image, "import"] => vec![("POST", Route::Import(image_id(image)))],
        ["v2", "images", image, "uploads"] => {
            vec![("OPTIONS", Route::UploadOptions), ("POST", Route::CreateUpload(image_id(image)))]
        }
        ["v2", "images", image, "uploads", upload] => vec![
            ("OPTIONS", Route::UploadOptions),
            ("HEAD", Route::UploadOffset(image_id(image), id(upload))),
            ("PATCH", Route::ResumeUpload(image_id(image), id(upload))),
            ("DELETE", Route::TerminateUpload(image_id(image), id(upload))),
        ],
        ["v2", "images", image, "locations"] => {
            vec![("GET", Route::ListLocations(image_id(image))), ("POST", Route::AddLocation(image_id(image)))]
        }
        ["v2", "stores", store, image] => vec![("DELETE", Route::DeleteFromStore(id(store), image_id(image)))],
        ["v2", "tasks"] => vec![("GET", Route::ListTasks), ("POST", Route::CreateTask)],
        ["v2", "tasks", task] => vec![("GET", Route::ShowTask(id(task)))],
        ["v2", "images", image, "members"] => {
            vec![("GET", Route::ListMembers(image_id(image))), ("POST", Route::AddMember(image_id(image)))]
        }
        ["v2", "images", image, "members", member] => vec![
            ("GET", Route::ShowMember(image_id(image), id(member))),
            ("PUT", Route::UpdateMember(image_id(image), id(member))),
            ("DELETE", Route::RemoveMember(image_id(image), id(member))),
        ],
        ["v2", "cache"] => vec![("GET", Route::ListCache), ("DELETE", Route::ClearCache)],
        ["v2", "cache", image] => {
            vec![("PUT", Route::QueueCache(image_id(image))), ("DELETE", Route::DeleteCacheEntry(image_id(image)))]
        }
        ["v2", "schemas", name] => {
            let schema = match *name {
                "image" => SchemaName::Image,
                "images" => SchemaName::Images,
                "member" => SchemaName::Member,
                "members" => SchemaName::Members,
                "task" => SchemaName::Task,
                "tasks" => SchemaName::Tasks,
                other => return Err(ApiError::not_found(format!("No schema named '{other}'."))),
            };
            vec![("GET", Route::Schema(schema))]
        }
        ["v2", "schemas", "metadefs", name] => {
            let schema = SchemaName::metadef(name)
                .ok_or_else(|| ApiError::not_found(format!("No schema named 'metadefs/{name}'.")))?;
            vec![("GET", Route::Schema(schema))]
        }
        ["v2", "metadefs", rest @ ..] => metadef_candidates(rest)
            .ok_or_else(|| ApiError::not_found(format!("The resource could not be found: {path}")))?,
        ["v2", "info", "import"] => vec![("GET", Route::ImportInfo)],
        ["v2", "info", "stores"] => vec![("GET", Route::StoresInfo)],
        ["v2", "info", "stores", "detail"] => vec![("GET", Route::StoresDetail)],
        ["v2", "info", "usage"] => vec![("GET", Route::UsageInfo)],
        ["v1", "images", rest @ ..] | ["images", rest @ ..] => v1_candidates(rest, &mut image_id)
            .ok_or_else(|| ApiError::not_found(format!("The resource could not be found: {path}")))?,
        [first, ..] if *first != "v2" && *first != "v1" && is_version_prefix(first) => {
            vec![("GET", Route::VersionsMultipleChoice)]
        }
        _ => return Err(ApiError::not_found(format!("The resource could not be found: {path}"))),
    };
    let route = choose(method, candidates)?;
    match unknown_image {
        Some(raw) => Err(ApiError::image_not_found(&raw)),
        None => Ok(route),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> ImageId {
        ImageId::parse(ID).unwrap()
    }

    const ID: &str = "57c061a3-05d8-49c1-a8f5-4be99d58db30";

    #[test]
    fn version_documents() {
        assert_eq!(resolve("GET", "/"), Ok(Route::VersionsMultipleChoice));
        assert_eq!(resolve("GET", "/versions"), Ok(Route::Versions));
        assert_eq!(resolve("GET", "/v10"), Ok(Route::VersionsMultipleChoice));
        assert_eq!(resolve("GET", "/v3.1/images"), Ok(Route::VersionsMultipleChoice));
        assert_eq!(resolve("GET", "/healthcheck"), Ok(Route::Healthcheck));
    }

    #[test]
    fn resumable_upload_routes() {
        let base = format!("/v2/images/{ID}/uploads");
        assert_eq!(resolve("POST", &base), Ok(Route::CreateUpload(img())));
        assert_eq!(resolve("OPTIONS", &base), Ok(Route::UploadOptions));
        let one = format!("{base}/u1");
        assert_eq!(resolve("HEAD", &one), Ok(Route::UploadOffset(img(), "u1".into())));
        assert_eq!(resolve("PATCH", &one), Ok(Route::ResumeUpload(img(), "u1".into())));
        assert_eq!(resolve("DELETE", &one), Ok(Route::TerminateUpload(img(), "u1".into())));
        assert_eq!(resolve("GET", &one).unwrap_err().status, 405);
        assert_eq!(resolve("POST", "/v2/images/nope/uploads").unwrap_err().status, 404);
    }

    #[test]
    fn image_routes() {
        assert_eq!(resolve("GET", "/v2/images"), Ok(Route::ListImages));
        assert_eq!(resolve("POST", "/v2/images/"), Ok(Route::CreateImage));
        for method in ["GET", "DELETE", "PATCH", "PUT"] {
            assert_eq!(resolve(method, "/v2/images/").unwrap_err().status, 404, "{method} /v2/images/");
        }
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}")), Ok(Route::ShowImage(img())));
        assert_eq!(resolve("PATCH", &format!("/v2/images/{ID}")), Ok(Route::UpdateImage(img())));
        assert_eq!(resolve("DELETE", &format!("/v2/images/{ID}")), Ok(Route::DeleteImage(img())));
        assert_eq!(resolve("PUT", &format!("/v2/images/{ID}/file")), Ok(Route::UploadData(img())));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/file")), Ok(Route::DownloadData(img())));
        assert_eq!(resolve("POST", &format!("/v2/images/{ID}/actions/deactivate")), Ok(Route::Deactivate(img())));
        assert_eq!(resolve("POST", &format!("/v2/images/{ID}/actions/reactivate")), Ok(Route::Reactivate(img())));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/tasks")), Ok(Route::ImageTasks(img())));
        assert_eq!(resolve("POST", &format!("/v2/images/{ID}/members")), Ok(Route::AddMember(img())));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/members")), Ok(Route::ListMembers(img())));
        assert_eq!(resolve("PUT", &format!("/v2/images/{ID}/members/p2")), Ok(Route::UpdateMember(img(), "p2".into())));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/members/p2")), Ok(Route::ShowMember(img(), "p2".into())));
        assert_eq!(
            resolve("DELETE", &format!("/v2/images/{ID}/members/p2")),
            Ok(Route::RemoveMember(img(), "p2".into()))
        );
    }

    #[test]
    fn an_image_id_that_is_not_a_uuid_is_404_after_the_method_is_checked() {
        for (method, path) in [
            ("GET", "/v2/images/nope"),
            ("PUT", "/v2/images/nope/file"),
            ("PUT", "/v2/images/nope/tags/t"),
            ("DELETE", "/v2/stores/primary/nope"),
            ("PUT", "/v2/cache/nope"),
            ("HEAD", "/v1/images/nope"),
        ] {
            let error = resolve(method, path).unwrap_err();
            assert_eq!((error.status, error.message.as_str()), (404, "No image found with ID nope"), "{method} {path}");
        }
        assert_eq!(resolve("POST", "/v2/images/nope").unwrap_err().status, 405);
        let spelled = ID.to_uppercase();
        assert_eq!(resolve("GET", &format!("/v2/images/{spelled}")), Ok(Route::ShowImage(img())));
    }

    #[test]
    fn import_task_location_and_store_routes() {
        assert_eq!(resolve("PUT", &format!("/v2/images/{ID}/stage")), Ok(Route::StageData(img())));
        assert_eq!(resolve("POST", &format!("/v2/images/{ID}/import")), Ok(Route::Import(img())));
        assert_eq!(resolve("POST", &format!("/v2/images/{ID}/locations")), Ok(Route::AddLocation(img())));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/locations")), Ok(Route::ListLocations(img())));
        assert_eq!(
            resolve("DELETE", &format!("/v2/stores/secondary/{ID}")),
            Ok(Route::DeleteFromStore("secondary".into(), img()))
        );
        assert_eq!(resolve("GET", "/v2/tasks"), Ok(Route::ListTasks));
        assert_eq!(resolve("POST", "/v2/tasks"), Ok(Route::CreateTask));
        assert_eq!(resolve("GET", &format!("/v2/tasks/{ID}")), Ok(Route::ShowTask(ID.into())));
        assert_eq!(resolve("DELETE", &format!("/v2/tasks/{ID}")).unwrap_err().status, 405);
        assert_eq!(resolve("GET", "/v2/info/stores/detail"), Ok(Route::StoresDetail));
        assert_eq!(resolve("GET", "/v2/info/usage"), Ok(Route::UsageInfo));
        assert_eq!(resolve("GET", &format!("/v2/images/{ID}/stage")).unwrap_err().status, 405);
    }

    #[test]
    fn image_cache_routes() {
        assert_eq!(resolve("GET", "/v2/cache"), Ok(Route::ListCache));
        assert_eq!(resolve("DELETE", "/v2/cache/"), Ok(Route::ClearCache));
        assert_eq!(resolve("PUT", &format!("/v2/cache/{ID}")), Ok(Route::QueueCache(img())));
        assert_eq!(resolve("DELETE", &format!("/v2/cache/{ID}")), Ok(Route::DeleteCacheEntry(img())));
        let error = resolve("POST", "/v2/cache").unwrap_err();
        assert_eq!(error.headers, vec![("Allow", "GET, DELETE".to_string())]);
        let error = resolve("GET", &format!("/v2/cache/{ID}")).unwrap_err();
        assert_eq!(error.headers, vec![("Allow", "PUT, DELETE".to_string())]);
        assert_eq!(resolve("GET", &format!("/v2/cache/{ID}/x")).unwrap_err().status, 404);
    }

    #[test]
    fn tags_are_percent_decoded() {
        assert_eq!(
            resolve("PUT", &format!("/v2/images/{ID}/tags/a%20b%2Fc")),
            Ok(Route::AddTag(img(), "a b/c".into()))
        );
        assert_eq!(resolve("DELETE", &format!("/v2/images/{ID}/tags/x")), Ok(Route::DeleteTag(img(), "x".into())));
    }

    #[test]
    fn schemas_and_info() {
        assert_eq!(resolve("GET", "/v2/schemas/image"), Ok(Route::Schema(SchemaName::Image)));
        assert_eq!(resolve("GET", "/v2/schemas/tasks"), Ok(Route::Schema(SchemaName::Tasks)));
        assert_eq!(resolve("GET", "/v2/schemas/bogus").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/v2/info/import"), Ok(Route::ImportInfo));
        assert_eq!(resolve("GET", "/v2/info/stores"), Ok(Route::StoresInfo));
    }

    #[test]
    fn wrong_methods_get_405_with_allow() {
        let error = resolve("POST", &format!("/v2/images/{ID}")).unwrap_err();
        assert_eq!(error.status, 405);
        assert_eq!(error.headers, vec![("Allow", "GET, PATCH, DELETE".to_string())]);
        let error = resolve("DELETE", "/v2/images").unwrap_err();
        assert_eq!(error.headers, vec![("Allow", "GET, POST".to_string())]);
    }

    #[test]
    fn v1_routes_exist_under_v1_and_bare_images() {
        for prefix in ["/v1/images", "/images"] {
            assert_eq!(resolve("GET", prefix), Ok(Route::V1List));
            assert_eq!(resolve("POST", &format!("{prefix}/")), Ok(Route::V1Create));
            assert_eq!(resolve("GET", &format!("{prefix}/detail")), Ok(Route::V1ListDetailed));
            assert_eq!(resolve("HEAD", &format!("{prefix}/{ID}")), Ok(Route::V1Head(img())));
            assert_eq!(resolve("GET", &format!("{prefix}/{ID}")), Ok(Route::V1Show(img())));
            assert_eq!(resolve("PUT", &format!("{prefix}/{ID}")), Ok(Route::V1Update(img())));
            assert_eq!(resolve("DELETE", &format!("{prefix}/{ID}")), Ok(Route::V1Delete(img())));
            assert_eq!(resolve("PATCH", &format!("{prefix}/{ID}")).unwrap_err().status, 405);
            assert_eq!(resolve("GET", &format!("{prefix}/{ID}/file")).unwrap_err().status, 404);
        }
    }

    #[test]
    fn unknown_paths_get_404() {
        for path in ["/v2/nothing", "/v2/images/x/y", "/favicon.ico", "/v2", "/v1"] {
            assert_eq!(resolve("GET", path).unwrap_err().status, 404, "{path}");
        }
    }

    #[test]
    fn metadef_routes() {
        use MetadefRoute as M;
        let ns = "OS::Compute::Test";
        let m = |method: &str, path: &str| {
            resolve(method, path).map(|r| match r {
                Route::Metadef(m) => m,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(m("GET", "/v2/metadefs/namespaces"), Ok(M::ListNamespaces));
        assert_eq!(m("POST", "/v2/metadefs/namespaces"), Ok(M::CreateNamespace));
        assert_eq!(m("PUT", &format!("/v2/metadefs/namespaces/{ns}")), Ok(M::UpdateNamespace(ns.into())));
        assert_eq!(m("DELETE", "/v2/metadefs/namespaces/n/objects"), Ok(M::DeleteObjects("n".into())));
        assert_eq!(m("PUT", "/v2/metadefs/namespaces/n/objects/o"), Ok(M::UpdateObject("n".into(), "o".into())));
        assert_eq!(
            m("GET", "/v2/metadefs/namespaces/n/properties/hw%3Acpu"),
            Ok(M::ShowProperty("n".into(), "hw:cpu".into()))
        );
        assert_eq!(m("POST", "/v2/metadefs/namespaces/n/tags"), Ok(M::CreateTags("n".into())));
        assert_eq!(m("POST", "/v2/metadefs/namespaces/n/tags/t"), Ok(M::CreateTag("n".into(), "t".into())));
        assert_eq!(m("PUT", "/v2/metadefs/namespaces/n/tags/t"), Ok(M::UpdateTag("n".into(), "t".into())));
        assert_eq!(m("POST", "/v2/metadefs/namespaces/n/resource_types"), Ok(M::Associate("n".into())));
        assert_eq!(
            m("DELETE", "/v2/metadefs/namespaces/n/resource_types/OS::Nova::Flavor"),
            Ok(M::Dissociate("n".into(), "OS::Nova::Flavor".into()))
        );
        assert_eq!(m("GET", "/v2/metadefs/resource_types"), Ok(M::ListResourceTypes));
        assert_eq!(resolve("PATCH", "/v2/metadefs/namespaces/n").unwrap_err().status, 405);
        assert_eq!(resolve("GET", "/v2/metadefs/namespaces/n/resource_types/x").unwrap_err().status, 405);
        assert_eq!(resolve("GET", "/v2/metadefs/nothing").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/v2/schemas/metadefs/namespace"), Ok(Route::Schema(SchemaName::MetadefNamespace)));
        assert_eq!(resolve("GET", "/v2/schemas/metadefs/tags"), Ok(Route::Schema(SchemaName::MetadefTags)));
        assert_eq!(resolve("GET", "/v2/schemas/metadefs/image").unwrap_err().status, 404);
    }
}
