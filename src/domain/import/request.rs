//! `POST /v2/images/{id}/import`: the methods, the request body, what the
//! image must look like for each method, and Glance's bookkeeping in the
//! image's properties (`glance/api/v2/images.py` `import_image`,
//! `glance/async_/flows/api_image_import.py`):
//!
//! - `os_glance_import_task`: the task holding the import lock (409 for a
//!   second import while it is set);
//! - `os_glance_importing_to_stores`: stores still to be written;
//! - `os_glance_failed_import`: stores that failed.
//!
//! The last two stay on the image (empty when done), as in Glance: clients
//! read them to learn how an import ended.

use serde_json::Value;

use crate::domain::image::location::{check_url_length, json_len, shown};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId, ValidationError, MAX_STRING};

/// The task holding the import lock.
pub const IMPORT_TASK: &str = "os_glance_import_task";
/// Stores an import still has to write.
pub const IMPORTING_TO: &str = "os_glance_importing_to_stores";
/// Stores an import failed to write.
pub const FAILED_IMPORT: &str = "os_glance_failed_import";

/// The largest import request (and legacy import task `input`), as JSON,
/// in bytes. The whole body is kept as the task's input, as in Glance, so
/// it is bounded: a well-formed request is a few hundred bytes (a URL of at
/// most [`MAX_URL_BYTES`](crate::domain::image::location::MAX_URL_BYTES),
/// store ids), and the limit leaves ample room for `image_properties`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// An interoperable import method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMethod {
    /// Staged data (`PUT /stage`) moved into the stores.
    GlanceDirect,
    /// Data fetched from a URL.
    WebDownload,
    /// An active image's data copied to more stores.
    CopyImage,
    /// Data and properties of an image in another region's catalog.
    GlanceDownload,
}

impl ImportMethod {
    /// Every method, in the order `/v2/info/import` lists them.
    pub const ALL: [ImportMethod; 4] =
        [ImportMethod::GlanceDirect, ImportMethod::WebDownload, ImportMethod::CopyImage, ImportMethod::GlanceDownload];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMethod::GlanceDirect => "glance-direct",
            ImportMethod::WebDownload => "web-download",
            ImportMethod::CopyImage => "copy-image",
            ImportMethod::GlanceDownload => "glance-download",
        }
    }

    /// The method named `name`.
    pub fn parse(name: &str) -> Option<ImportMethod> {
        ImportMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The status the image must be in.
    pub fn required_status(self) -> ImageStatus {
        match self {
            ImportMethod::GlanceDirect => ImageStatus::Uploading,
            ImportMethod::WebDownload | ImportMethod::GlanceDownload => ImageStatus::Queued,
            ImportMethod::CopyImage => ImageStatus::Active,
        }
    }

    /// The status event starting the import (copy-image leaves the image
    /// active: it only adds copies).
    pub fn begin_event(self) -> Option<ImageEvent> {
        match self {
            ImportMethod::CopyImage => None,
            _ => Some(ImageEvent::BeginImport),
        }
    }

    /// Parses the `IMPORT_METHODS` setting (comma-separated); unknown names
    /// are errors, so a typo cannot silently switch a method off.
    pub fn parse_list(raw: &str) -> Result<Vec<ImportMethod>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| ImportMethod::parse(name).ok_or_else(|| format!("unknown import method '{name}'")))
            .collect()
    }
}

/// The remote image of a glance-download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    /// Its id in the remote catalog.
    pub image_id: String,
    /// The region whose `image` endpoint serves it.
    pub region: String,
    /// The endpoint interface (`public` by default).
    pub interface: String,
}

/// A parsed import request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// The method.
    pub method: ImportMethod,
    /// web-download's URL.
    pub uri: Option<String>,
    /// glance-download's source.
    pub remote: Option<RemoteImage>,
    /// `stores`, when given.
    pub stores: Option<Vec<String>>,
    /// `all_stores`.
    pub all_stores: bool,
    /// `all_stores_must_succeed` (default true).
    pub all_stores_must_succeed: bool,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::Invalid(message.into())
}

fn bool_field(object: &serde_json::Map<String, Value>, key: &str, default: bool) -> Result<bool, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(format!("'{key}' must be a boolean, got {other}."))),
    }
}

impl ImportRequest {
    /// Parses the body, checking the method is one of `enabled`.
    pub fn parse(body: &Value, enabled: &[ImportMethod]) -> Result<ImportRequest, ValidationError> {
        let object = body.as_object().ok_or_else(|| invalid("The import request must be a JSON object."))?;
        let method_object = object
            .get("method")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("The import request needs 'method': {\"name\": ...}."))?;
        let name = method_object
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("The import request needs 'method.name'."))?;
        let method = ImportMethod::parse(name)
            .filter(|m| enabled.contains(m))
            .ok_or_else(|| invalid(format!("Import method {} is not supported by this catalog.", shown(name))))?;
        let text = |key: &str| method_object.get(key).and_then(Value::as_str).map(str::to_owned);
        let uri = match method {
            ImportMethod::WebDownload => {
                let uri = method_object
                    .get("uri")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| invalid("web-download needs 'method.uri'."))?;
                check_url_length("method.uri", uri)?;
                Some(uri.to_owned())
            }
            _ => None,
        };
        let remote = match method {
            ImportMethod::GlanceDownload => {
                let image_id = text("glance_image_id")
                    .ok_or_else(|| invalid("glance-download needs 'method.glance_image_id'."))?;
                if ImageId::parse(&image_id).is_none() {
                    return Err(invalid(format!("Remote image id does not look like a UUID: {}", shown(&image_id))));
                }
                let region =
                    text("glance_region").ok_or_else(|| invalid("glance-download needs 'method.glance_region'."))?;
                let interface = text("glance_service_interface").unwrap_or_else(|| "public".into());
                check_short("method.glance_region", &region)?;
                check_short("method.glance_service_interface", &interface)?;
                Some(RemoteImage { image_id, region, interface })
            }
            _ => None,
        };
        let stores = match object.get("stores") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| invalid("'stores' must be a list of store ids."))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(invalid("'stores' must be a list of store ids.")),
        };
        for store in stores.iter().flatten() {
            check_short("A store id in 'stores'", store)?;
        }
        check_request_size("The import request", body)?;
        Ok(ImportRequest {
            method,
            uri,
            remote,
            stores,
            all_stores: bool_field(object, "all_stores", false)?,
            all_stores_must_succeed: bool_field(object, "all_stores_must_succeed", true)?,
        })
    }

    /// Checks the image can be imported this way now (409 otherwise): the
    /// method's status, both formats set, and no import holding the lock.
    pub fn check_image(&self, image: &Image) -> Result<(), ValidationError> {
        if let Some(task) = image.properties.get(IMPORT_TASK) {
            return Err(ValidationError::Conflict(format!(
                "Image {} has an import in progress (task {task}); wait for it to finish.",
                image.id
            )));
        }
        let required = self.method.required_status();
        if image.status != required {
            let why = match self.method {
                ImportMethod::GlanceDirect => "glance-direct imports staged data: stage it first (PUT /stage)",
                ImportMethod::CopyImage => "copy-image copies the data of an active image",
                ImportMethod::WebDownload | ImportMethod::GlanceDownload => "this method fills a queued image",
            };
            return Err(ValidationError::Conflict(format!(
                "Image {} is {}: {why}, so the image must be {required}.",
                image.id, image.status
            )));
        }
        if image.disk_format.is_none() || image.container_format.is_none() {
            return Err(ValidationError::Conflict(
                "'disk_format' and 'container_format' must be set prior to import.".into(),
            ));
        }
        Ok(())
    }
}

/// Refuses a name longer than [`MAX_STRING`] characters (400).
fn check_short(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > MAX_STRING {
        return Err(invalid(format!("{field} is too long: at most {MAX_STRING} characters are allowed.")));
    }
    Ok(())
}

/// Refuses a request document over [`MAX_REQUEST_BYTES`] as JSON (413).
fn check_request_size(what: &str, document: &Value) -> Result<(), ValidationError> {
    let size = json_len(document);
    if size > MAX_REQUEST_BYTES {
        return Err(ValidationError::OverLimit(format!(
            "{what} is too large: {size} bytes as JSON, at most {MAX_REQUEST_BYTES} are allowed."
        )));
    }
    Ok(())
}

/// Checks the `input` of a legacy import task (`POST /v2/tasks`), which is
/// kept whole as the task's input: `import_from` is a URL of at most
/// [`MAX_URL_BYTES`](crate::domain::image::location::MAX_URL_BYTES), and
/// the whole input at most [`MAX_REQUEST_BYTES`]. The keys' presence and
/// types are `domain::task::parse_create_request`'s business.
pub fn check_task_input(input: &Value) -> Result<(), ValidationError> {
    if let Some(url) = input.get("import_from").and_then(Value::as_str) {
        check_url_length("input.import_from", url)?;
    }
    if let Some(format) = input.get("import_from_format").and_then(Value::as_str) {
        check_short("input.import_from_format", format)?;
    }
    check_request_size("The task input", input)
}

/// Splits a comma-separated store list property.
pub fn store_list(raw: Option<&String>) -> Vec<String> {
    raw.map(|r| r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

impl Image {
    /// Takes the import lock for `task_id` and records the stores to write.
    pub fn begin_import(&mut self, task_id: &str, targets: &[String]) {
        self.properties.insert(IMPORT_TASK.into(), task_id.into());
        self.properties.insert(IMPORTING_TO.into(), targets.join(","));
        self.properties.insert(FAILED_IMPORT.into(), String::new());
    }

    /// Notes the outcome for one store: it leaves the "importing" list, and
    /// joins the "failed" list if it failed.
    pub fn import_store_done(&mut self, store: &str, succeeded: bool) {
        let mut importing = store_list(self.properties.get(IMPORTING_TO));
        importing.retain(|s| s != store);
        self.properties.insert(IMPORTING_TO.into(), importing.join(","));
        if !succeeded {
            let mut failed = store_list(self.properties.get(FAILED_IMPORT));
            if !failed.iter().any(|s| s == store) {
                failed.push(store.to_owned());
            }
            self.properties.insert(FAILED_IMPORT.into(), failed.join(","));
        }
    }

    /// Releases the import lock held by `task_id` (if it still holds it);
    /// stores still listed as importing count as failed.
    pub fn end_import(&mut self, task_id: &str) {
        if self.properties.get(IMPORT_TASK).map(String::as_str) != Some(task_id) {
            return;
        }
        for store in store_list(self.properties.get(IMPORTING_TO)) {
            self.import_store_done(&store, false);
        }
        self.properties.remove(IMPORT_TASK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::{ContainerFormat, DiskFormat};
    use serde_json::json;

    fn image(status: ImageStatus) -> Image {
        let mut image = Image::new(ImageId::generate(), Some("p".into()), "2026-01-01T00:00:00Z");
        image.status = status;
        image.disk_format = Some(DiskFormat::Raw);
        image.container_format = Some(ContainerFormat::Bare);
        image
    }

    #[test]
    fn bodies_are_parsed_and_methods_must_be_enabled() {
        let all = ImportMethod::ALL;
        let request = ImportRequest::parse(
            &json!({"method": {"name": "web-download", "uri": "http://x/y"}, "stores": ["a"], "all_stores_must_succeed": false}),
            &all,
        )
        .unwrap();
        assert_eq!(request.uri.as_deref(), Some("http://x/y"));
        assert_eq!(request.stores, Some(vec!["a".to_string()]));
        assert!(!request.all_stores_must_succeed);
        assert!(ImportRequest::parse(&json!({"method": {"name": "web-download"}}), &all).is_err());
        assert!(ImportRequest::parse(&json!({"method": {"name": "bogus"}}), &all).is_err());
        assert!(
            ImportRequest::parse(&json!({"method": {"name": "copy-image"}}), &[ImportMethod::GlanceDirect]).is_err()
        );
        assert!(ImportRequest::parse(&json!({}), &all).is_err());
        assert!(ImportRequest::parse(&json!({"method": {"name": "glance-direct"}, "all_stores": "yes"}), &all).is_err());
        let bad_uuid = ImportRequest::parse(
            &json!({"method": {"name": "glance-download", "glance_image_id": "foo", "glance_region": "R"}}),
            &all,
        );
        assert!(format!("{:?}", bad_uuid.unwrap_err()).contains("does not look like a UUID"));
    }

    #[test]
    fn uris_names_and_whole_requests_are_bounded_when_parsed() {
        use crate::domain::image::location::MAX_URL_BYTES;
        let all = ImportMethod::ALL;
        let web = |uri: String| json!({"method": {"name": "web-download", "uri": uri}});
        let at_limit = format!("http://h/{}", "a".repeat(MAX_URL_BYTES - 9));
        assert!(ImportRequest::parse(&web(at_limit.clone()), &all).is_ok());
        let error = ImportRequest::parse(&web(format!("{at_limit}a")), &all).unwrap_err();
        assert!(matches!(&error, ValidationError::Invalid(m) if m.contains("method.uri is too long")), "{error:?}");

        let remote = |region: String| json!({"method": {"name": "glance-download", "glance_image_id": "6f0c2a5e-0000-4000-8000-000000000000", "glance_region": region}});
        assert!(ImportRequest::parse(&remote("R".repeat(MAX_STRING)), &all).is_ok());
        assert!(ImportRequest::parse(&remote("R".repeat(MAX_STRING + 1)), &all).is_err());
        let long_store = json!({"method": {"name": "copy-image"}, "stores": ["s".repeat(MAX_STRING + 1)]});
        assert!(matches!(ImportRequest::parse(&long_store, &all), Err(ValidationError::Invalid(_))));

        // Glance ignores keys it does not know, but the body is kept as the
        // task's input: its size is bounded whatever carries the bulk.
        let padded = json!({"method": {"name": "copy-image"}, "note": "n".repeat(MAX_REQUEST_BYTES)});
        let error = ImportRequest::parse(&padded, &all).unwrap_err();
        assert!(
            matches!(&error, ValidationError::OverLimit(m) if m.contains("import request is too large")),
            "{error:?}"
        );
    }

    #[test]
    fn legacy_task_inputs_are_bounded() {
        use crate::domain::image::location::MAX_URL_BYTES;
        let input = |url: String, properties: Value| json!({"import_from": url, "import_from_format": "raw", "image_properties": properties});
        assert!(check_task_input(&input("http://h/x".into(), json!({"name": "n"}))).is_ok());
        let long = format!("http://h/{}", "a".repeat(MAX_URL_BYTES));
        assert!(
            matches!(check_task_input(&input(long, json!({}))), Err(ValidationError::Invalid(m)) if m.contains("import_from"))
        );
        let bulky = json!({"description": "d".repeat(MAX_REQUEST_BYTES)});
        assert!(matches!(check_task_input(&input("http://h/x".into(), bulky)), Err(ValidationError::OverLimit(_))));
        let format = json!({"import_from": "http://h/x", "import_from_format": "f".repeat(MAX_STRING + 1)});
        assert!(check_task_input(&format).is_err());
    }

    #[test]
    fn each_method_needs_its_status_formats_and_the_lock() {
        let direct = ImportRequest::parse(&json!({"method": {"name": "glance-direct"}}), &ImportMethod::ALL).unwrap();
        assert!(direct.check_image(&image(ImageStatus::Uploading)).is_ok());
        assert!(matches!(direct.check_image(&image(ImageStatus::Queued)), Err(ValidationError::Conflict(_))));
        let copy = ImportRequest::parse(&json!({"method": {"name": "copy-image"}}), &ImportMethod::ALL).unwrap();
        assert!(copy.check_image(&image(ImageStatus::Active)).is_ok());
        let mut locked = image(ImageStatus::Active);
        locked.begin_import("t1", &["a".into()]);
        assert!(matches!(copy.check_image(&locked), Err(ValidationError::Conflict(_))));
        let mut unformatted = image(ImageStatus::Uploading);
        unformatted.disk_format = None;
        assert!(matches!(direct.check_image(&unformatted), Err(ValidationError::Conflict(_))));
    }

    #[test]
    fn bookkeeping_follows_each_store() {
        let mut image = image(ImageStatus::Importing);
        image.begin_import("t1", &["a".into(), "b".into(), "c".into()]);
        image.import_store_done("a", true);
        image.import_store_done("b", false);
        assert_eq!(image.properties[IMPORTING_TO], "c");
        assert_eq!(image.properties[FAILED_IMPORT], "b");
        image.end_import("other");
        assert!(image.properties.contains_key(IMPORT_TASK));
        image.end_import("t1");
        assert!(!image.properties.contains_key(IMPORT_TASK));
        assert_eq!(image.properties[IMPORTING_TO], "");
        assert_eq!(image.properties[FAILED_IMPORT], "b,c");
    }
}
