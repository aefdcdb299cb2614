//! An in-memory SQLite database with every migration applied in name order:
//! D1's schema, for the host tests of the catalog's SQL.

use edge_glance::domain::listing::SqlValue;
use rusqlite::types::Value;
use rusqlite::Connection;

/// A fresh database with the catalog's schema.
pub fn database() -> Connection {
    let db = Connection::open_in_memory().unwrap();
    let mut migrations: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    migrations.sort();
    assert!(!migrations.is_empty());
    for migration in migrations {
        db.execute_batch(&std::fs::read_to_string(&migration).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", migration.display()));
    }
    db
}

/// The `id` column of the rows a query with the catalog's bound values
/// returns, in order.
pub fn ids(db: &Connection, sql: &str, params: Vec<SqlValue>) -> Vec<String> {
    let values = params.into_iter().map(|p| match p {
        SqlValue::Null => Value::Null,
        SqlValue::Text(text) => Value::Text(text),
        SqlValue::Int(n) => Value::Integer(n),
    });
    let mut statement = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let ids = statement.query_map(rusqlite::params_from_iter(values), |row| row.get::<_, String>("id")).unwrap();
    ids.map(Result::unwrap).collect()
}
