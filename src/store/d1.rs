//! The D1 plumbing both repositories use: bind [`SqlValue`]s, read rows,
//! count changed rows, and tell a duplicate key from other failures.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use super::StoreError;
use crate::domain::listing::SqlValue;

/// A D1 database.
pub struct Db {
    db: D1Database,
}

fn backend(e: worker::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn js_value(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Text(s) => JsValue::from_str(s),
        SqlValue::Int(n) => JsValue::from_f64(*n as f64),
    }
}

impl Db {
    /// Wraps the binding.
    pub fn new(db: D1Database) -> Db {
        Db { db }
    }

    fn statement(&self, sql: &str, params: &[SqlValue]) -> Result<D1PreparedStatement, StoreError> {
        let values: Vec<JsValue> = params.iter().map(js_value).collect();
        self.db.prepare(sql).bind(&values).map_err(backend)
    }

    /// The rows a query returns.
    pub async fn rows<T: DeserializeOwned>(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<T>, StoreError> {
        let result = self.statement(sql, params)?.all().await.map_err(backend)?;
        result.results().map_err(backend)
    }

    /// How many rows a statement changed.
    pub async fn changes(&self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        let result = self.statement(sql, params)?.run().await.map_err(backend)?;
        Ok(result.meta().map_err(backend)?.and_then(|m| m.changes).unwrap_or(0))
    }

    /// Runs an INSERT, returning how many rows it added; `Duplicate` when
    /// the key is already taken.
    pub async fn insert(&self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        match self.changes(sql, params).await {
            Err(StoreError::Backend(message)) if message.contains("UNIQUE") || message.contains("PRIMARY KEY") => {
                Err(StoreError::Duplicate)
            }
            other => other,
        }
    }
}
