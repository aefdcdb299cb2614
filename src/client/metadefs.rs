//! Metadata definitions (`/v2/metadefs`): namespaces read from Glance's
//! definition files (the format of Glance's `etc/metadefs/*.json`) and the
//! calls that create, show and delete them.
//!
//! A definition file is one namespace: `namespace`, `display_name`,
//! `description`, `visibility`, `protected`, `resource_type_associations`
//! (`[{name, prefix, properties_target}]`), `properties` (`{name: {title,
//! type, ...}}`), `objects` (`[{name, description, required, properties}]`)
//! and `tags` (`[{name}]`). Glance creates all of it from one
//! `POST /v2/metadefs/namespaces` with the whole document, which is what
//! [`Client::import_namespaces`] sends.

use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;
use serde_json::{json, Value};

use super::{Client, ClientError};

/// Characters escaped in a namespace name used as a path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Keys Glance refuses in a create body (read-only: 403 "Attribute ... is read-only").
const READ_ONLY: [&str; 4] = ["self", "schema", "created_at", "updated_at"];

fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// Why a definition file is not a namespace the catalog can import.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// The text is not JSON.
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The document is not a JSON object.
    #[error("not a namespace: the document is not a JSON object")]
    NotAnObject,
    /// The document has no `namespace`.
    #[error("not a namespace: there is no \"namespace\" key")]
    NoNamespace,
    /// `namespace` is blank.
    #[error("\"namespace\" is empty")]
    EmptyNamespace,
    /// A field that must be a string is not one.
    #[error("\"{0}\" is not a string")]
    NotAString(&'static str),
    /// `protected` is not a boolean.
    #[error("\"protected\" is not true or false")]
    ProtectedNotABoolean,
    /// A read-only field of the views was given.
    #[error("\"{0}\" is read-only and cannot be imported")]
    ReadOnly(&'static str),
    /// A list field is not a list.
    #[error("\"{0}\" is not a list")]
    NotAList(&'static str),
    /// An entry of a list is not an object.
    #[error("{what}[{index}] is not an object")]
    EntryNotAnObject {
        /// The list.
        what: &'static str,
        /// The entry's position.
        index: usize,
    },
    /// An entry of a list has no non-empty `name`.
    #[error("{what}[{index}] has no \"name\"")]
    EntryWithoutName {
        /// The list.
        what: &'static str,
        /// The entry's position.
        index: usize,
    },
    /// `properties` is not an object of definitions.
    #[error("\"{0}\" is not an object of property definitions")]
    NotPropertyMap(String),
    /// A property definition is not an object.
    #[error("{what}.{name} is not an object")]
    PropertyNotAnObject {
        /// Where the definitions are.
        what: String,
        /// The property.
        name: String,
    },
    /// An object's `required` is not a list of names.
    #[error("objects[{0}].required is not a list of names")]
    RequiredNotNames(usize),
}

/// One namespace read from a definition file.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceFile {
    /// The namespace's name.
    pub namespace: String,
    /// The whole document, as the create request's body.
    pub body: Value,
}

impl NamespaceFile {
    /// Parses and checks a definition file's text. The checks are of the
    /// format's shape (what a file must look like to be a namespace at
    /// all); the values are the server's to judge.
    pub fn parse(text: &str) -> Result<NamespaceFile, FileError> {
        let body: Value = serde_json::from_str(text)?;
        let Some(document) = body.as_object() else {
            return Err(FileError::NotAnObject);
        };
        let namespace = match document.get("namespace") {
            Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
            Some(Value::String(_)) => return Err(FileError::EmptyNamespace),
            Some(_) => return Err(FileError::NotAString("namespace")),
            None => return Err(FileError::NoNamespace),
        };
        for key in ["display_name", "description", "visibility", "owner"] {
            if let Some(value) = document.get(key) {
                if !value.is_string() && !value.is_null() {
                    return Err(FileError::NotAString(key));
                }
            }
        }
        if let Some(value) = document.get("protected") {
            if !value.is_boolean() {
                return Err(FileError::ProtectedNotABoolean);
            }
        }
        if let Some(key) = READ_ONLY.iter().find(|k| document.contains_key(**k)) {
            return Err(FileError::ReadOnly(key));
        }
        named_list(document.get("resource_type_associations"), "resource_type_associations")?;
        named_list(document.get("tags"), "tags")?;
        for (i, object) in named_list(document.get("objects"), "objects")?.iter().enumerate() {
            property_map(object.get("properties"), &format!("objects[{i}].properties"))?;
            if let Some(required) = object.get("required") {
                if !required.as_array().is_some_and(|r| r.iter().all(Value::is_string)) {
                    return Err(FileError::RequiredNotNames(i));
                }
            }
        }
        property_map(document.get("properties"), "properties")?;
        Ok(NamespaceFile { namespace, body })
    }

    /// Reads and parses one file.
    pub fn read(path: &Path) -> Result<NamespaceFile, FileError> {
        NamespaceFile::parse(&std::fs::read_to_string(path)?)
    }

    /// How many objects, properties and tags the file defines.
    pub fn counts(&self) -> (usize, usize, usize) {
        let len = |key: &str| match &self.body[key] {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        };
        (len("objects"), len("properties"), len("tags"))
    }
}

/// A list of objects that each have a non-empty string `name`.
fn named_list<'a>(value: Option<&'a Value>, what: &'static str) -> Result<&'a [Value], FileError> {
    let Some(value) = value else { return Ok(&[]) };
    let Some(items) = value.as_array() else {
        return Err(FileError::NotAList(what));
    };
    for (index, item) in items.iter().enumerate() {
        match item.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {}
            _ if !item.is_object() => return Err(FileError::EntryNotAnObject { what, index }),
            _ => return Err(FileError::EntryWithoutName { what, index }),
        }
    }
    Ok(items)
}

/// A map of property name to property definition (each an object).
fn property_map(value: Option<&Value>, what: &str) -> Result<(), FileError> {
    let Some(value) = value else { return Ok(()) };
    let Some(map) = value.as_object() else {
        return Err(FileError::NotPropertyMap(what.to_owned()));
    };
    for (name, definition) in map {
        if !definition.is_object() {
            return Err(FileError::PropertyNotAnObject { what: what.to_owned(), name: name.clone() });
        }
    }
    Ok(())
}

/// The `*.json` files of a directory, sorted by name.
pub fn definition_files(dir: &Path) -> Result<Vec<PathBuf>, ClientError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportResult {
    /// The namespace was created.
    Created,
    /// A namespace of that name existed and was left alone.
    Exists,
    /// A namespace of that name existed and was deleted and created anew.
    Replaced,
    /// The file was not imported.
    Failed,
}

/// One file's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportOutcome {
    /// The file.
    pub file: PathBuf,
    /// Its namespace (`None` when the file could not be read as one).
    pub namespace: Option<String>,
    /// What happened.
    pub result: ImportResult,
    /// Why it failed, or what existed: the parser's or the server's message.
    pub message: Option<String>,
}

impl Client {
    /// Creates a namespace (with any resource type associations, objects,
    /// properties and tags in `body`).
    pub fn create_namespace(&self, body: &Value) -> Result<Value, ClientError> {
        Self::json(self.send(self.request("POST", "/v2/metadefs/namespaces").send_json(body.clone()))?)
    }

    /// A namespace with its resource type associations, objects, properties
    /// and tags.
    pub fn get_namespace(&self, namespace: &str) -> Result<Value, ClientError> {
        Self::json(self.send(self.request("GET", &format!("/v2/metadefs/namespaces/{}", segment(namespace))).call())?)
    }

    /// Replaces a namespace's own fields (`PUT`).
    pub fn update_namespace(&self, namespace: &str, body: &Value) -> Result<Value, ClientError> {
        let path = format!("/v2/metadefs/namespaces/{}", segment(namespace));
        Self::json(self.send(self.request("PUT", &path).send_json(body.clone()))?)
    }

    /// Deletes a namespace and everything in it.
    pub fn delete_namespace(&self, namespace: &str) -> Result<(), ClientError> {
        self.send(self.request("DELETE", &format!("/v2/metadefs/namespaces/{}", segment(namespace))).call())?;
        Ok(())
    }

    /// Deletes a namespace, first clearing `protected` if that is what
    /// stops the deletion.
    fn force_delete_namespace(&self, namespace: &str) -> Result<(), ClientError> {
        match self.delete_namespace(namespace) {
            Err(ClientError::Forbidden(message)) => {
                let existing = self.get_namespace(namespace)?;
                if existing["protected"] != Value::Bool(true) {
                    return Err(ClientError::Forbidden(message));
                }
                let mut unprotected = json!({"namespace": namespace, "protected": false});
                for key in ["display_name", "description", "visibility"] {
                    if let Some(value) = existing.get(key).filter(|v| !v.is_null()) {
                        unprotected[key] = value.clone();
                    }
                }
                self.update_namespace(namespace, &unprotected)?;
                self.delete_namespace(namespace)
            }
            other => other,
        }
    }

    /// Imports one parsed definition file: creates the namespace; when it
    /// exists (409), leaves it, or with `replace` deletes it (clearing
    /// `protected` if needed) and creates it again.
    pub fn import_namespace(&self, file: &NamespaceFile, replace: bool) -> Result<ImportResult, ClientError> {
        match self.create_namespace(&file.body) {
            Ok(_) => Ok(ImportResult::Created),
            Err(ClientError::Duplicate(_)) if replace => {
                self.force_delete_namespace(&file.namespace)?;
                self.create_namespace(&file.body)?;
                Ok(ImportResult::Replaced)
            }
            Err(ClientError::Duplicate(_)) => Ok(ImportResult::Exists),
            Err(error) => Err(error),
        }
    }

    /// Imports every `*.json` in `dir` (in name order), each file on its
    /// own: one file's failure doesn't stop the others.
    pub fn import_namespaces(&self, dir: &Path, replace: bool) -> Result<Vec<ImportOutcome>, ClientError> {
        let files = definition_files(dir)?;
        Ok(files
            .into_iter()
            .map(|path| match NamespaceFile::read(&path) {
                Err(error) => ImportOutcome {
                    file: path,
                    namespace: None,
                    result: ImportResult::Failed,
                    message: Some(error.to_string()),
                },
                Ok(parsed) => {
                    let (result, message) = match self.import_namespace(&parsed, replace) {
                        Ok(ImportResult::Exists) => {
                            (ImportResult::Exists, Some("already exists (use --replace to recreate it)".into()))
                        }
                        Ok(result) => (result, None),
                        Err(error) => (ImportResult::Failed, Some(error.to_string())),
                    };
                    ImportOutcome { file: path, namespace: Some(parsed.namespace), result, message }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORAGE: &str = include_str!("../../tests/fixtures/metadefs/edge-storage.json");
    const MINIMAL: &str = include_str!("../../tests/fixtures/metadefs/edge-minimal.json");

    #[test]
    fn a_full_definition_file_is_read_whole() {
        let file = NamespaceFile::parse(STORAGE).unwrap();
        assert_eq!(file.namespace, "EdgeGlance::Test::Storage");
        assert_eq!(file.counts(), (1, 2, 2));
        assert_eq!(file.body["resource_type_associations"][1]["prefix"], "edge_");
        assert_eq!(file.body["objects"][0]["properties"]["region"]["type"], "string");
        assert_eq!(file.body["properties"]["tier"]["enum"], json!(["hot", "warm", "cold"]));
        // The body is the document as written, keys in order.
        let keys: Vec<&String> = file.body.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "namespace");
        assert_eq!(keys.last().unwrap().as_str(), "tags");
    }

    #[test]
    fn a_minimal_file_has_nothing_but_the_namespace() {
        let file = NamespaceFile::parse(MINIMAL).unwrap();
        assert_eq!(file.namespace, "EdgeGlance::Test::Minimal");
        assert_eq!(file.counts(), (0, 0, 0));
        assert_eq!(NamespaceFile::parse(r#"{"namespace": "N"}"#).unwrap().body, json!({"namespace": "N"}));
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "not a JSON object"),
            (r#"{"display_name": "x"}"#, "no \"namespace\""),
            (r#"{"namespace": " "}"#, "empty"),
            (r#"{"namespace": 7}"#, "not a string"),
            (r#"{"namespace": "N", "protected": "yes"}"#, "\"protected\""),
            (r#"{"namespace": "N", "description": 3}"#, "\"description\""),
            (r#"{"namespace": "N", "tags": ["a"]}"#, "tags[0] is not an object"),
            (r#"{"namespace": "N", "tags": [{"title": "a"}]}"#, "tags[0] has no \"name\""),
            (r#"{"namespace": "N", "tags": {"name": "a"}}"#, "\"tags\" is not a list"),
            (r#"{"namespace": "N", "resource_type_associations": [{}]}"#, "resource_type_associations[0]"),
            (r#"{"namespace": "N", "objects": [{"name": "o", "properties": []}]}"#, "objects[0].properties"),
            (r#"{"namespace": "N", "objects": [{"name": "o", "required": "a"}]}"#, "objects[0].required"),
            (r#"{"namespace": "N", "properties": {"p": "string"}}"#, "properties.p"),
            (r#"{"namespace": "N", "created_at": "2020-01-01T00:00:00Z"}"#, "read-only"),
        ];
        for (text, needle) in cases {
            let error = NamespaceFile::parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error:?} should mention {needle:?}");
        }
    }

    #[test]
    fn only_json_files_are_taken_in_name_order() {
        let dir = std::env::temp_dir().join(format!("metadefs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("nested.json")).unwrap();
        for name in ["b.json", "a.json", "README", "c.json.orig"] {
            std::fs::write(dir.join(name), "{}").unwrap();
        }
        let names: Vec<String> = definition_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(definition_files(&dir), Err(ClientError::Io(_))));
    }

    #[test]
    fn namespace_names_are_escaped_as_path_segments() {
        assert_eq!(segment("OS::Compute::Hypervisor"), "OS::Compute::Hypervisor");
        assert_eq!(segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
    }

    #[test]
    fn outcomes_serialize_for_scripts() {
        let outcome = ImportOutcome {
            file: PathBuf::from("d/x.json"),
            namespace: Some("N".into()),
            result: ImportResult::Exists,
            message: None,
        };
        assert_eq!(
            serde_json::to_value(&outcome).unwrap(),
            json!({"file": "d/x.json", "namespace": "N", "result": "exists", "message": null})
        );
    }
}
