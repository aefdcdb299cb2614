//! The configured image stores: Glance's `enabled_backends`, here one R2
//! bucket per writable store plus, optionally, a read-only `http` store for
//! images whose data stays at an http(s) location.
//!
//! Owns the `STORES` configuration (parsed and validated once), the
//! `/v2/info/stores` documents, the order in which an image's `stores`
//! field is written and downloads are tried (by weight), and Glance's rules
//! for choosing the targets of an import or copy.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::domain::Misconfigured;

fn bad(message: String) -> Misconfigured {
    Misconfigured(message)
}

/// The environment variable holding the JSON store list.
pub const STORES_VAR: &str = "STORES";

/// What backs a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// An R2 bucket, reached through the worker binding of that name.
    R2 {
        /// The binding name (`IMAGES`, ...).
        binding: String,
    },
    /// Images whose data is at an http(s) location; never written.
    Http,
}

/// One configured store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The store identifier clients name (`primary`, `web`, ...).
    pub id: String,
    /// What backs it.
    pub kind: StoreKind,
    /// The operator's description, shown in `/v2/info/stores`.
    pub description: String,
    /// Preference: higher weights are listed and read first.
    pub weight: i64,
    /// Whether new data goes here when no store is named.
    pub is_default: bool,
}

impl StoreConfig {
    /// Whether image data may be written to this store.
    pub fn is_writable(&self) -> bool {
        matches!(self.kind, StoreKind::R2 { .. })
    }

    fn type_name(&self) -> &'static str {
        match self.kind {
            StoreKind::R2 { .. } => "r2",
            StoreKind::Http => "http",
        }
    }
}

/// A store choice Glance refuses (a 400 to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `all_stores: true` together with `stores` or the store header.
    #[error("All_stores parameter can't be used with x-image-meta-store header or stores parameter")]
    AllStoresWithStores,
    /// Both the `stores` list and the `x-image-meta-store` header.
    #[error("Stores parameter and x-image-meta-store header can't be both specified")]
    StoresWithHeader,
    /// An empty `stores` list: there is nowhere to put the data.
    #[error("The stores list is empty: name at least one store")]
    NoStores,
    /// Stores that are not configured.
    #[error("Unknown store(s): {}", .0.join(", "))]
    Unknown(Vec<String>),
    /// A store that cannot receive data.
    #[error("Store {0} is read-only")]
    ReadOnly(String),
}

/// A store that cannot take data (unknown here, or read-only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Store {0} is not a writable store of this catalog.")]
pub struct NotWritable(pub String);

/// One entry of the `STORES` JSON, as written by the operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    binding: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    weight: i64,
    #[serde(default)]
    default: bool,
}

/// The configured stores, in configuration order; validated so that
/// exactly one R2 store is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stores {
    stores: Vec<StoreConfig>,
}

impl Stores {
    /// Parses and validates the `STORES` JSON (see the module docs). The
    /// error says what is wrong, for the operator.
    pub fn parse(raw: &str) -> Result<Stores, Misconfigured> {
        let entries: Vec<RawStore> =
            serde_json::from_str(raw).map_err(|e| bad(format!("{STORES_VAR} is not valid: {e}")))?;
        let mut stores: Vec<StoreConfig> = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry.id;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(bad(format!(
                    "store id '{id}' must be non-empty and use only letters, digits, '_' and '-'"
                )));
            }
            if stores.iter().any(|s| s.id == id) {
                return Err(bad(format!("store id '{id}' is used twice")));
            }
            let kind = match entry.kind.as_deref().unwrap_or("r2") {
                "r2" => match entry.binding {
                    Some(binding) if !binding.is_empty() => {
                        if stores.iter().any(|s| s.kind == StoreKind::R2 { binding: binding.clone() }) {
                            // Two ids on one bucket would make the same object
                            // look like two copies.
                            return Err(bad(format!("store '{id}': binding '{binding}' is used by another store")));
                        }
                        StoreKind::R2 { binding }
                    }
                    _ => return Err(bad(format!("store '{id}' is an r2 store and needs a \"binding\""))),
                },
                "http" => {
                    if entry.binding.is_some() {
                        return Err(bad(format!("store '{id}' is an http store and takes no \"binding\"")));
                    }
                    if stores.iter().any(|s| s.kind == StoreKind::Http) {
                        return Err(bad(format!("store '{id}': only one http store may be configured")));
                    }
                    if entry.default {
                        return Err(bad(format!("store '{id}' is read-only and cannot be the default")));
                    }
                    StoreKind::Http
                }
                other => return Err(bad(format!("store '{id}' has unknown type '{other}': use r2 or http"))),
            };
            stores.push(StoreConfig {
                id,
                kind,
                description: entry.description.unwrap_or_default(),
                weight: entry.weight,
                is_default: entry.default,
            });
        }
        let defaults: Vec<String> = stores.iter().filter(|s| s.is_default).map(|s| s.id.clone()).collect();
        if defaults.len() > 1 {
            return Err(bad(format!("only one store may be the default; marked: {}", defaults.join(", "))));
        }
        match stores.iter_mut().find(|s| s.is_writable()) {
            None => return Err(bad(format!("{STORES_VAR} needs at least one r2 store"))),
            Some(first) if defaults.is_empty() => first.is_default = true,
            Some(_) => {}
        }
        Ok(Stores { stores })
    }

    /// One R2 store, the default: the configuration when `STORES` is unset.
    pub fn single(id: &str, binding: &str) -> Stores {
        Stores {
            stores: vec![StoreConfig {
                id: id.to_owned(),
                kind: StoreKind::R2 { binding: binding.to_owned() },
                description: format!("R2 bucket bound as {binding}"),
                weight: 0,
                is_default: true,
            }],
        }
    }

    /// Every store, in configuration order.
    pub fn all(&self) -> &[StoreConfig] {
        &self.stores
    }

    /// The store new data goes to when none is named (always an R2 store).
    pub fn default_store(&self) -> &StoreConfig {
        // `parse` and `single` guarantee exactly one default.
        self.stores.iter().find(|s| s.is_default).unwrap_or(&self.stores[0])
    }

    /// The store with this id.
    pub fn get(&self, id: &str) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.id == id)
    }

    /// The writable (R2) stores, in configuration order.
    pub fn r2_stores(&self) -> impl Iterator<Item = &StoreConfig> {
        self.stores.iter().filter(|s| s.is_writable())
    }

    /// The read-only http store, if configured.
    pub fn http_store(&self) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.kind == StoreKind::Http)
    }

    /// Whether `id` is a configured store that accepts data.
    pub fn is_writable(&self, id: &str) -> bool {
        self.get(id).is_some_and(StoreConfig::is_writable)
    }

    /// `GET /v2/info/stores`.
    pub fn info_json(&self) -> Value {
        json!({ "stores": self.stores.iter().map(|s| self.entry(s, false)).collect::<Vec<_>>() })
    }

    /// `GET /v2/info/stores/detail` (admin): adds each store's type and
    /// backend properties.
    pub fn detail_json(&self) -> Value {
        json!({ "stores": self.stores.iter().map(|s| self.entry(s, true)).collect::<Vec<_>>() })
    }

    fn entry(&self, store: &StoreConfig, detail: bool) -> Value {
        let mut entry = Map::new();
        entry.insert("id".into(), json!(store.id));
        entry.insert("description".into(), json!(store.description));
        // Glance writes these flags as the string "true" and omits them
        // otherwise.
        if store.is_default {
            entry.insert("default".into(), json!("true"));
        }
        if !store.is_writable() {
            entry.insert("read-only".into(), json!("true"));
        }
        entry.insert("weight".into(), json!(store.weight));
        if detail {
            entry.insert("type".into(), json!(store.type_name()));
            let properties = match &store.kind {
                StoreKind::R2 { binding } => json!({ "binding": binding }),
                StoreKind::Http => json!({}),
            };
            entry.insert("properties".into(), properties);
        }
        Value::Object(entry)
    }

    /// Known ids only, each once, heaviest first (ties by id): the order of
    /// an image's `stores` field, which Tempest checks.
    pub fn order(&self, ids: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut known: Vec<&StoreConfig> = Vec::new();
        for id in ids {
            if let Some(store) = self.get(&id) {
                if !known.iter().any(|k| k.id == store.id) {
                    known.push(store);
                }
            }
        }
        known.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
        known.into_iter().map(|s| s.id.clone()).collect()
    }

    /// The `stores` field value: [`Stores::order`], comma-joined.
    pub fn format_stores(&self, ids: impl IntoIterator<Item = String>) -> String {
        self.order(ids).join(",")
    }

    /// The stores holding an image, heaviest first: where to read its data.
    pub fn download_order(&self, image_stores: &[String]) -> Vec<&StoreConfig> {
        self.order(image_stores.iter().cloned()).iter().filter_map(|id| self.get(id)).collect()
    }

    /// Glance's choice of import targets (`get_stores_from_request`):
    ///
    /// - `all_stores` excludes `stores` and the header, and means every
    ///   writable store, less those the image is `already_in` when
    ///   `skip_existing` (copy-image); the result may then be empty;
    /// - otherwise the `stores` list, which excludes the header;
    /// - otherwise the `x-image-meta-store` header;
    /// - otherwise the default store.
    ///
    /// Named stores must exist and be writable. The result is in
    /// [`Stores::order`].
    pub fn resolve_import_targets(
        &self,
        requested: Option<&[String]>,
        all_stores: bool,
        header_store: Option<&str>,
        already_in: &[String],
        skip_existing: bool,
    ) -> Result<Vec<String>, StoreError> {
        if all_stores {
            if requested.is_some() || header_store.is_some() {
                return Err(StoreError::AllStoresWithStores);
            }
            let targets =
                self.r2_stores().filter(|s| !(skip_existing && already_in.contains(&s.id))).map(|s| s.id.clone());
            return Ok(self.order(targets));
        }
        let named: Vec<String> = match (requested, header_store) {
            (Some(_), Some(_)) => return Err(StoreError::StoresWithHeader),
            (Some([]), None) => return Err(StoreError::NoStores),
            (Some(list), None) => list.to_vec(),
            (None, Some(header)) => vec![header.to_owned()],
            (None, None) => vec![self.default_store().id.clone()],
        };
        let unknown: Vec<String> = named.iter().filter(|id| self.get(id).is_none()).cloned().collect();
        if !unknown.is_empty() {
            return Err(StoreError::Unknown(unknown));
        }
        if let Some(read_only) = named.iter().find(|id| !self.is_writable(id)) {
            return Err(StoreError::ReadOnly(read_only.clone()));
        }
        Ok(self.order(named))
    }
}

/// An image's `stores` field split into ids (commas, blanks dropped).
pub fn parse_stores(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"[
        {"id":"primary","binding":"IMAGES","description":"R2 bucket edge-glance-images","weight":100,"default":true},
        {"id":"secondary","binding":"IMAGES_SECONDARY","description":"second R2 bucket","weight":50},
        {"id":"web","type":"http","description":"Read-only: images at http(s) locations","weight":0}
    ]"#;

    fn stores() -> Stores {
        Stores::parse(EXAMPLE).unwrap()
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_example_configuration_parses() {
        let s = stores();
        assert_eq!(s.default_store().id, "primary");
        assert_eq!(s.get("secondary").unwrap().kind, StoreKind::R2 { binding: "IMAGES_SECONDARY".into() });
        assert_eq!(s.r2_stores().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["primary", "secondary"]);
        assert_eq!(s.http_store().unwrap().id, "web");
        assert!(s.is_writable("primary") && s.is_writable("secondary"));
        assert!(!s.is_writable("web") && !s.is_writable("nope"));
        assert!(s.get("nope").is_none());
    }

    #[test]
    fn the_first_r2_store_is_default_when_none_is_marked() {
        let s =
            Stores::parse(r#"[{"id":"web","type":"http"},{"id":"a","binding":"A"},{"id":"b","binding":"B"}]"#).unwrap();
        assert_eq!(s.default_store().id, "a");
        assert_eq!(s.all().iter().filter(|s| s.is_default).count(), 1);
    }

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        for (raw, expected) in [
            ("{}", "not valid"),
            (r#"[]"#, "at least one r2 store"),
            (r#"[{"id":"web","type":"http"}]"#, "at least one r2 store"),
            (r#"[{"id":"","binding":"A"}]"#, "must be non-empty"),
            (r#"[{"id":"a b","binding":"A"}]"#, "letters, digits"),
            (r#"[{"id":"a","binding":"A"},{"id":"a","binding":"B"}]"#, "used twice"),
            (r#"[{"id":"a"}]"#, "needs a \"binding\""),
            (r#"[{"id":"a","binding":"A","default":true},{"id":"b","binding":"B","default":true}]"#, "only one"),
            (r#"[{"id":"a","binding":"A"},{"id":"w","type":"http","default":true}]"#, "cannot be the default"),
            (r#"[{"id":"a","type":"s3","binding":"A"}]"#, "unknown type 's3'"),
            (r#"[{"id":"a","binding":"A"},{"id":"b","binding":"A"}]"#, "used by another store"),
            (r#"[{"id":"a","binding":"A","wieght":5}]"#, "unknown field"),
            (r#"[{"id":"a","binding":"A"},{"id":"w","type":"http"},{"id":"v","type":"http"}]"#, "only one http"),
        ] {
            let error = Stores::parse(raw).unwrap_err();
            assert!(error.0.contains(expected), "{raw}: {error}");
        }
    }

    #[test]
    fn single_is_one_default_r2_store() {
        let s = Stores::single("primary", "IMAGES");
        assert_eq!(s.default_store().kind, StoreKind::R2 { binding: "IMAGES".into() });
        assert!(s.http_store().is_none());
        assert_eq!(s.info_json()["stores"][0]["default"], "true");
    }

    #[test]
    fn info_documents_follow_glance() {
        let s = stores();
        assert_eq!(
            s.info_json(),
            json!({"stores": [
                {"id": "primary", "description": "R2 bucket edge-glance-images", "default": "true", "weight": 100},
                {"id": "secondary", "description": "second R2 bucket", "weight": 50},
                {"id": "web", "description": "Read-only: images at http(s) locations", "read-only": "true", "weight": 0}
            ]})
        );
        let detail = s.detail_json();
        assert_eq!(detail["stores"][0]["type"], "r2");
        assert_eq!(detail["stores"][0]["properties"], json!({"binding": "IMAGES"}));
        assert_eq!(detail["stores"][2]["type"], "http");
        assert_eq!(detail["stores"][2]["properties"], json!({}));
        assert_eq!(detail["stores"][2]["read-only"], "true");
    }

    #[test]
    fn order_is_by_weight_then_id_known_ids_once() {
        let s = Stores::parse(
            r#"[{"id":"c","binding":"C","weight":10},{"id":"b","binding":"B","weight":50},{"id":"a","binding":"A","weight":10}]"#,
        )
        .unwrap();
        assert_eq!(s.order(ids(&["c", "a", "x", "b", "a"])), ids(&["b", "a", "c"]));
        assert_eq!(s.format_stores(ids(&["a", "b"])), "b,a");
        assert_eq!(s.format_stores(Vec::new()), "");
        assert_eq!(parse_stores(" b, a,,c "), ids(&["b", "a", "c"]));
        assert!(parse_stores("").is_empty());
        let order: Vec<&str> = s.download_order(&ids(&["c", "b", "gone"])).iter().map(|s| s.id.as_str()).collect();
        assert_eq!(order, ["b", "c"]);
    }

    #[test]
    fn import_targets_default_to_the_default_store() {
        let s = stores();
        assert_eq!(s.resolve_import_targets(None, false, None, &[], false), Ok(ids(&["primary"])));
        assert_eq!(s.resolve_import_targets(None, false, Some("secondary"), &[], false), Ok(ids(&["secondary"])));
    }

    #[test]
    fn import_targets_from_the_stores_list_are_validated_and_ordered() {
        let s = stores();
        let both = ids(&["secondary", "primary"]);
        assert_eq!(s.resolve_import_targets(Some(&both), false, None, &[], false), Ok(ids(&["primary", "secondary"])));
        let unknown = ids(&["primary", "x", "y"]);
        let error = s.resolve_import_targets(Some(&unknown), false, None, &[], false).unwrap_err();
        assert_eq!(error.to_string(), "Unknown store(s): x, y");
        let web = ids(&["web"]);
        let error = s.resolve_import_targets(Some(&web), false, None, &[], false).unwrap_err();
        assert_eq!(error.to_string(), "Store web is read-only");
        assert_eq!(
            s.resolve_import_targets(None, false, Some("web"), &[], false),
            Err(StoreError::ReadOnly("web".into()))
        );
        assert_eq!(
            s.resolve_import_targets(None, false, Some("nope"), &[], false),
            Err(StoreError::Unknown(ids(&["nope"])))
        );
        assert_eq!(s.resolve_import_targets(Some(&[]), false, None, &[], false), Err(StoreError::NoStores));
        assert_eq!(
            s.resolve_import_targets(Some(&both), false, Some("primary"), &[], false),
            Err(StoreError::StoresWithHeader)
        );
    }

    #[test]
    fn all_stores_means_every_writable_store() {
        let s = stores();
        assert_eq!(s.resolve_import_targets(None, true, None, &[], false), Ok(ids(&["primary", "secondary"])));
        let present = ids(&["primary"]);
        assert_eq!(s.resolve_import_targets(None, true, None, &present, false), Ok(ids(&["primary", "secondary"])));
        assert_eq!(s.resolve_import_targets(None, true, None, &present, true), Ok(ids(&["secondary"])));
        let everywhere = ids(&["primary", "secondary"]);
        assert_eq!(s.resolve_import_targets(None, true, None, &everywhere, true), Ok(vec![]));
        let error = s.resolve_import_targets(Some(&present), true, None, &[], false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "All_stores parameter can't be used with x-image-meta-store header or stores parameter"
        );
        assert_eq!(
            s.resolve_import_targets(None, true, Some("primary"), &[], false),
            Err(StoreError::AllStoresWithStores)
        );
    }
}
