//! The `images` row as D1 returns it, and the mapping both ways between it
//! and the domain [`Image`]. Numbers arrive from JavaScript as doubles.

use std::collections::BTreeMap;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::StoreError;
use crate::domain::image::columns::PLAIN_COLUMNS;
use crate::domain::image::{ContainerFormat, DiskFormat, Image, ImageId, Visibility};
use crate::domain::listing::SqlValue;

/// One row of `images` (see `migrations/0001_images.sql`).
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// Image id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Status name.
    pub status: String,
    /// Visibility name.
    pub visibility: String,
    /// 0 or 1.
    pub protected: f64,
    /// 0 or 1.
    pub os_hidden: f64,
    /// Hex md5.
    pub checksum: Option<String>,
    /// Hash algorithm.
    pub os_hash_algo: Option<String>,
    /// Hex digest.
    pub os_hash_value: Option<String>,
    /// Bytes.
    pub size: Option<f64>,
    /// Virtual size.
    pub virtual_size: Option<f64>,
    /// Disk format name.
    pub disk_format: Option<String>,
    /// Container format name.
    pub container_format: Option<String>,
    /// Owner project.
    pub owner: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
    /// JSON array of tags.
    pub tags: String,
    /// JSON object of custom properties.
    pub properties: String,
    /// Row revision (compare-and-set).
    pub version: f64,
    /// JSON array of locations (`[]` if the column is absent).
    pub locations: String,
    /// The plain columns (`domain::image::columns`), read by name whatever
    /// they are; other columns are skipped.
    pub plain: Vec<(&'static str, f64)>,
}

/// Read field by field (serde's `flatten`, which the plain columns would
/// need, buffers the whole row first: it made reading a row dearer than
/// showing it).
impl<'de> Deserialize<'de> for ImageRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ImageRow, D::Error> {
        deserializer.deserialize_map(RowVisitor)
    }
}

/// The columns read by name (the plain columns come from their list).
const COLUMNS: [&str; 20] = [
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "disk_format",
    "container_format",
    "owner",
    "created_at",
    "updated_at",
    "tags",
    "properties",
    "version",
    "locations",
];

/// A column name as a `'static` one of [`COLUMNS`] or of the plain
/// columns, `""` for any other: keys are matched where they are read, never
/// copied.
struct Column(&'static str);

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Column, D::Error> {
        struct ColumnVisitor;
        impl Visitor<'_> for ColumnVisitor {
            type Value = Column;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Column, E> {
                let known = COLUMNS.iter().copied().chain(PLAIN_COLUMNS.iter().map(|c| c.name));
                Ok(Column(known.into_iter().find(|c| *c == name).unwrap_or("")))
            }
        }
        deserializer.deserialize_identifier(ColumnVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = ImageRow;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a row of the images table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ImageRow, A::Error> {
        let (mut id, mut status, mut visibility, mut protected, mut os_hidden) = (None, None, None, None, None);
        let (mut created_at, mut updated_at, mut tags, mut properties, mut version) = (None, None, None, None, None);
        let (mut name, mut checksum, mut os_hash_algo, mut os_hash_value) = (None, None, None, None);
        let (mut size, mut virtual_size, mut disk_format, mut container_format) = (None, None, None, None);
        let (mut owner, mut locations, mut plain) = (None, None, Vec::with_capacity(PLAIN_COLUMNS.len()));
        while let Some(Column(key)) = map.next_key()? {
            match key {
                "id" => id = Some(map.next_value()?),
                "name" => name = map.next_value()?,
                "status" => status = Some(map.next_value()?),
                "visibility" => visibility = Some(map.next_value()?),
                "protected" => protected = Some(map.next_value()?),
                "os_hidden" => os_hidden = Some(map.next_value()?),
                "checksum" => checksum = map.next_value()?,
                "os_hash_algo" => os_hash_algo = map.next_value()?,
                "os_hash_value" => os_hash_value = map.next_value()?,
                "size" => size = map.next_value()?,
                "virtual_size" => virtual_size = map.next_value()?,
                "disk_format" => disk_format = map.next_value()?,
                "container_format" => container_format = map.next_value()?,
                "owner" => owner = map.next_value()?,
                "created_at" => created_at = Some(map.next_value()?),
                "updated_at" => updated_at = Some(map.next_value()?),
                "tags" => tags = Some(map.next_value()?),
                "properties" => properties = Some(map.next_value()?),
                "version" => version = Some(map.next_value()?),
                "locations" => locations = Some(map.next_value()?),
                "" => {
                    map.next_value::<IgnoredAny>()?;
                }
                plain_column => plain.push((plain_column, map.next_value::<Option<f64>>()?.unwrap_or(0.0))),
            }
        }
        fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
            value.ok_or_else(|| E::missing_field(field))
        }
        Ok(ImageRow {
            id: required(id, "id")?,
            name,
            status: required(status, "status")?,
            visibility: required(visibility, "visibility")?,
            protected: required(protected, "protected")?,
            os_hidden: required(os_hidden, "os_hidden")?,
            checksum,
            os_hash_algo,
            os_hash_value,
            size,
            virtual_size,
            disk_format,
            container_format,
            owner,
            created_at: required(created_at, "created_at")?,
            updated_at: required(updated_at, "updated_at")?,
            tags: required(tags, "tags")?,
            properties: required(properties, "properties")?,
            version: required(version, "version")?,
            locations: locations.unwrap_or_else(|| "[]".into()),
            plain,
        })
    }
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of image {id}"))
}

impl TryFrom<ImageRow> for Image {
    type Error = StoreError;
    fn try_from(row: ImageRow) -> Result<Image, StoreError> {
        let id = ImageId::parse(&row.id).ok_or_else(|| corrupt("id", &row.id))?;
        let tags: Vec<String> = serde_json::from_str(&row.tags).map_err(|_| corrupt("tags", &row.id))?;
        let properties: BTreeMap<String, String> =
            serde_json::from_str(&row.properties).map_err(|_| corrupt("properties", &row.id))?;
        let locations = serde_json::from_str(&row.locations).map_err(|_| corrupt("locations", &row.id))?;
        Ok(Image {
            name: row.name,
            status: row.status.parse().map_err(|_| corrupt("status", &row.id))?,
            visibility: Visibility::parse(&row.visibility).map_err(|_| corrupt("visibility", &row.id))?,
            protected: row.protected != 0.0,
            os_hidden: row.os_hidden != 0.0,
            checksum: row.checksum,
            os_hash_algo: row.os_hash_algo,
            os_hash_value: row.os_hash_value,
            size: row.size.map(|n| n as u64),
            virtual_size: row.virtual_size.map(|n| n as u64),
            plain: PLAIN_COLUMNS
                .iter()
                .map(|c| {
                    let value = row.plain.iter().find(|(name, _)| *name == c.name).map_or(0.0, |(_, v)| *v);
                    (c.name, value as u64)
                })
                .collect(),
            disk_format: row
                .disk_format
                .as_deref()
                .map(DiskFormat::parse)
                .transpose()
                .map_err(|_| corrupt("disk_format", &row.id))?,
            container_format: row
                .container_format
                .as_deref()
                .map(ContainerFormat::parse)
                .transpose()
                .map_err(|_| corrupt("container_format", &row.id))?,
            owner: row.owner,
            created_at: row.created_at,
            updated_at: row.updated_at,
            tags,
            properties,
            locations,
            version: row.version as u64,
            id,
        })
    }
}

fn text(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()))
}

fn int(value: Option<u64>) -> SqlValue {
    value.map_or(SqlValue::Null, |n| SqlValue::Int(n as i64))
}

/// The columns written on insert, in order, with their values.
pub fn insert_values(image: &Image) -> Vec<(&'static str, SqlValue)> {
    let mut values = vec![("id", SqlValue::Text(image.id.to_string()))];
    values.extend(mutable_values(image));
    values.extend(data_values(image));
    values.extend([
        ("status", SqlValue::Text(image.status.as_str().into())),
        ("created_at", SqlValue::Text(image.created_at.clone())),
        ("version", SqlValue::Int(image.version as i64)),
    ]);
    values
}

/// The data columns: what is stored where and its hashes. Written by the
/// data paths (upload, import, locations) with a status transition or a
/// revision check, never by a plain metadata update.
pub fn data_values(image: &Image) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("checksum", text(image.checksum.as_deref())),
        ("os_hash_algo", text(image.os_hash_algo.as_deref())),
        ("os_hash_value", text(image.os_hash_value.as_deref())),
        ("size", int(image.size)),
        ("virtual_size", int(image.virtual_size)),
        ("locations", SqlValue::Text(locations_json(&image.locations))),
    ]
}

/// The `locations` column's JSON.
pub fn locations_json(locations: &[crate::domain::image::location::Location]) -> String {
    serde_json::to_string(locations).unwrap_or_else(|_| "[]".into())
}

/// The columns a metadata update (PATCH, v1 PUT) writes: never the status,
/// the data fields or the revision, which only the store's compare-and-set
/// statements move.
pub fn mutable_values(image: &Image) -> Vec<(&'static str, SqlValue)> {
    let mut values = vec![
        ("name", text(image.name.as_deref())),
        ("visibility", SqlValue::Text(image.visibility.as_str().into())),
        ("protected", SqlValue::Int(i64::from(image.protected))),
        ("os_hidden", SqlValue::Int(i64::from(image.os_hidden))),
        ("disk_format", text(image.disk_format.map(|f| f.as_str()))),
        ("container_format", text(image.container_format.map(|f| f.as_str()))),
        ("owner", text(image.owner.as_deref())),
        ("tags", SqlValue::Text(serde_json::to_string(&image.tags).unwrap_or_else(|_| "[]".into()))),
        ("properties", SqlValue::Text(serde_json::to_string(&image.properties).unwrap_or_else(|_| "{}".into()))),
        ("updated_at", SqlValue::Text(image.updated_at.clone())),
    ];
    values.extend(PLAIN_COLUMNS.iter().map(|c| (c.name, SqlValue::Int(image.plain(c.name) as i64))));
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::status::ImageStatus;
    use crate::domain::image::Writer;
    use serde_json::json;

    fn row_of(image: &Image) -> ImageRow {
        let mut object = serde_json::Map::new();
        for (column, value) in insert_values(image) {
            let json = match value {
                SqlValue::Null => serde_json::Value::Null,
                SqlValue::Text(s) => json!(s),
                SqlValue::Int(n) => json!(n as f64),
            };
            object.insert(column.into(), json);
        }
        serde_json::from_value(serde_json::Value::Object(object)).unwrap()
    }

    #[test]
    fn an_image_survives_a_round_trip_through_its_row() {
        let writer = Writer { is_admin: true, project_id: Some("p1") };
        let mut image = Image::from_create_request(
            &json!({"name": "n", "disk_format": "qcow2", "container_format": "bare", "tags": ["a", "b"], "k": "v", "protected": true, "min_ram": 512}),
            writer,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        image.status = ImageStatus::Active;
        image.size = Some(9_007_199_254_740_992);
        image.checksum = Some("abc".into());
        image.locations = vec![crate::domain::image::location::Location::in_r2("primary", "images/x")];
        assert_eq!(Image::try_from(row_of(&image)).unwrap(), image);
    }

    #[test]
    fn corrupt_rows_are_reported_not_guessed() {
        let writer = Writer { is_admin: true, project_id: None };
        let image = Image::from_create_request(&json!({}), writer, "2026-01-01T00:00:00Z").unwrap();
        let mut row = row_of(&image);
        row.status = "weird".into();
        assert!(matches!(Image::try_from(row), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn updates_never_write_status_or_data_fields() {
        let image = Image::new(ImageId::generate(), None, "2026-01-01T00:00:00Z");
        let columns: Vec<&str> = mutable_values(&image).into_iter().map(|(c, _)| c).collect();
        for forbidden in ["status", "size", "checksum", "os_hash_value", "id", "created_at", "version", "locations"] {
            assert!(!columns.contains(&forbidden), "{forbidden}");
        }
    }
}
