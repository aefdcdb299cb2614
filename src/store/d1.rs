//! The D1 plumbing every repository uses: bind [`SqlValue`]s, read rows,
//! count changed rows, run a batch, and tell a duplicate key from other
//! failures. A request's repositories share one [`Db`]: a D1 session
//! (read replication's Sessions API), whose bookmark the answer carries.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement, D1Result};

use super::StoreError;
use crate::domain::listing::SqlValue;
use crate::domain::wire::bookmark::SessionStart;

/// A D1 database, or a session on it; cloning shares it.
#[derive(Clone)]
pub struct Db {
    connection: Rc<Connection>,
}

enum Connection {
    /// Straight to the database (queue jobs, the cron: no client to hand a
    /// bookmark to).
    Database(D1Database),
    /// A request's session: sequentially consistent, starting where
    /// [`SessionStart`] says.
    Session(D1DatabaseSession, SessionStart),
}

fn backend(e: worker::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn js_error(e: JsValue) -> StoreError {
    backend(worker::Error::from(e))
}

fn js_value(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Text(s) => JsValue::from_str(s),
        SqlValue::Int(n) => JsValue::from_f64(*n as f64),
    }
}

impl Db {
    /// Wraps the binding (no session).
    pub fn new(db: D1Database) -> Db {
        Db { connection: Rc::new(Connection::Database(db)) }
    }

    /// A session on `db` starting at `start`. A bookmark D1 does not take
    /// is the client's mistake: `InvalidBookmark`.
    pub fn session(db: &D1Database, start: &SessionStart) -> Result<Db, StoreError> {
        let session = db.with_session(Some(start.constraint())).map_err(|e| match start {
            SessionStart::After(_) => StoreError::InvalidBookmark(e.to_string()),
            _ => backend(e),
        })?;
        Ok(Db { connection: Rc::new(Connection::Session(session, start.clone())) })
    }

    /// The session's latest bookmark (`None`: no session, or no query ran).
    pub fn bookmark(&self) -> Option<String> {
        match &*self.connection {
            Connection::Session(session, _) => session.get_bookmark().ok().flatten(),
            Connection::Database(_) => None,
        }
    }

    /// Where the session started (the database itself is the primary).
    pub fn start(&self) -> &SessionStart {
        match &*self.connection {
            Connection::Session(_, start) => start,
            Connection::Database(_) => &SessionStart::Primary,
        }
    }

    fn prepare(&self, sql: &str) -> D1PreparedStatement {
        match &*self.connection {
            Connection::Database(db) => db.prepare(sql),
            Connection::Session(session, _) => session.prepare(sql),
        }
    }

    /// A statement with its parameters bound.
    pub fn statement(&self, sql: &str, params: &[SqlValue]) -> Result<D1PreparedStatement, StoreError> {
        let values: Vec<JsValue> = params.iter().map(js_value).collect();
        self.prepare(sql).bind(&values).map_err(backend)
    }

    /// Runs `statements` as one transaction.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<D1Result>, worker::Error> {
        match &*self.connection {
            Connection::Database(db) => db.batch(statements).await,
            Connection::Session(session, _) => session.batch(statements).await,
        }
    }

    /// The rows a query returns. They cross from JavaScript as one JSON
    /// text, parsed here: converting each row's fields through
    /// `serde_wasm_bindgen` costs a boundary crossing per field, which made
    /// a 20-image list several times dearer than its D1 query.
    pub async fn rows<T: DeserializeOwned>(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<T>, StoreError> {
        let statement = self.statement(sql, params)?;
        let pending = statement.inner().all().map_err(js_error)?;
        let result = JsFuture::from(pending).await.map_err(js_error)?;
        let rows = js_sys::Reflect::get(&result, &JsValue::from_str("results")).map_err(js_error)?;
        if rows.is_undefined() || rows.is_null() {
            return Ok(Vec::new());
        }
        let text: String = js_sys::JSON::stringify(&rows).map_err(js_error)?.into();
        serde_json::from_str(&text).map_err(|e| StoreError::Backend(format!("a D1 row did not parse: {e}")))
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
