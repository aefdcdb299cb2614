//! The image's plain columns: the base attributes that are one scalar
//! column each with no rule of their own beyond their type (today Glance's
//! boot requirements, counts from 0 to [`MAX_MIN_VALUE`], default 0). This
//! list is the only place they are named: the record, its write rules and
//! its v2 JSON ([`super::Image`]), the row mapping (`store::row`), the list
//! filters (`domain::listing`), the v1 headers and records
//! (`domain::wire::v1`) and the image schemas (`domain::wire::documents`)
//! all take them from here. Adding one is a migration (an `INTEGER NOT
//! NULL DEFAULT 0` column), an entry here, and the clients that know
//! attribute names.

use serde_json::{json, Map, Value};

use super::{Image, ValidationError};

/// Glance keeps these counts in 32-bit columns: larger values are refused
/// rather than silently changed. Floats and out-of-range numbers (even ones
/// JSON parses as u64 or f64) are refused, so whatever is accepted is
/// stored exactly.
pub const MAX_MIN_VALUE: u64 = i32::MAX as u64;

/// One plain column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainColumn {
    /// The column, attribute, filter and v1 header (`x-image-meta-NAME`) name.
    pub name: &'static str,
    /// What it means (the schemas' description).
    pub description: &'static str,
}

/// Every plain column, in the order Glance shows them.
pub const PLAIN_COLUMNS: [PlainColumn; 2] = [
    PlainColumn { name: "min_ram", description: "Amount of ram (in MB) required to boot image." },
    PlainColumn { name: "min_disk", description: "Amount of disk space (in GB) required to boot image." },
];

/// The plain column called `name`.
pub fn plain_column(name: &str) -> Option<&'static PlainColumn> {
    PLAIN_COLUMNS.iter().find(|c| c.name == name)
}

impl PlainColumn {
    /// Parses a value for this column: an integer from 0 to [`MAX_MIN_VALUE`].
    pub fn parse(&self, value: &Value) -> Result<u64, ValidationError> {
        let key = self.name;
        let out_of_range = || {
            ValidationError::Invalid(format!(
                "Attribute '{key}' must be an integer from 0 to {MAX_MIN_VALUE}, got {value}."
            ))
        };
        match value {
            Value::Number(n) if n.is_u64() => n.as_u64().filter(|n| *n <= MAX_MIN_VALUE).ok_or_else(out_of_range),
            Value::Number(n) if n.is_i64() => Err(out_of_range()),
            _ => Err(super::type_error(key, value, "'integer'")),
        }
    }

    /// The column's schema (`/v2/schemas/image`).
    pub fn schema(&self) -> Value {
        json!({ "type": "integer", "description": self.description })
    }
}

impl Image {
    /// The value of plain column `name` (0 until set).
    pub fn plain(&self, name: &str) -> u64 {
        self.plain.get(name).copied().unwrap_or(0)
    }
}

/// Adds the plain columns to an image schema's `properties`.
pub fn add_to_schema(properties: &mut Map<String, Value>) {
    for column in PLAIN_COLUMNS {
        properties.insert(column.name.into(), column.schema());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_numbers_in_32_bits() {
        let column = plain_column("min_ram").unwrap();
        assert_eq!(column.parse(&json!(0)), Ok(0));
        assert_eq!(column.parse(&json!(MAX_MIN_VALUE)), Ok(MAX_MIN_VALUE));
        for bad in [json!(-1), json!(MAX_MIN_VALUE + 1), json!("1"), json!(1.5), json!(null)] {
            assert!(column.parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(plain_column("name"), None);
    }

    #[test]
    fn the_schema_lists_every_plain_column() {
        let mut properties = Map::new();
        add_to_schema(&mut properties);
        for column in PLAIN_COLUMNS {
            assert_eq!(properties[column.name]["type"], "integer");
            assert_eq!(properties[column.name]["description"], column.description);
        }
    }
}
