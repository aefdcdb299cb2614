//! The metadata definitions catalog in D1 (migration 0006): namespaces and
//! their objects, properties, tags and resource type associations. Children
//! name their namespace; renaming or deleting a namespace carries them along
//! here (the tables have no foreign keys).
//!
//! Every write of more than one statement is one D1 batch ([`Batch`]): D1
//! runs a batch as one transaction, so a namespace is created with all its
//! contents or not at all, a tag replacement leaves exactly one request's
//! set, and a rename or delete never leaves children behind. A child is
//! only ever inserted while its namespace exists (the insert says so
//! itself), so a namespace deleted meanwhile leaves no orphans.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::d1::Db;
use super::StoreError;
use crate::domain::listing::SqlValue;
use crate::domain::metadefs::{
    Association, Contents, Definition, Namespace, NamespaceVisibility, NewNamespace, ResourceType, Tag,
};

/// The catalog in D1.
pub struct Metadefs {
    db: Db,
}

/// Statements that apply together or not at all: D1 runs a batch in one
/// transaction and rolls all of it back when one statement fails.
#[derive(Default)]
struct Batch {
    statements: Vec<(String, Vec<SqlValue>)>,
}

impl Batch {
    fn push(&mut self, sql: impl Into<String>, params: Vec<SqlValue>) {
        self.statements.push((sql.into(), params));
    }

    /// Inserts a row of `table` for namespace `params[0]`, only while that
    /// namespace exists (no row otherwise).
    fn push_child(&mut self, table: &str, columns: &str, params: Vec<SqlValue>) {
        self.push(child_insert(table, columns, params.len()), params);
    }
}

/// `INSERT INTO table (columns) SELECT ?1, ?2... WHERE` the namespace `?1`
/// exists.
fn child_insert(table: &str, columns: &str, count: usize) -> String {
    let values: Vec<String> = (1..=count).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {table} ({columns}) SELECT {} WHERE EXISTS (SELECT 1 FROM metadef_namespaces WHERE namespace = ?1)",
        values.join(", ")
    )
}

const DEFINITION_COLUMNS: &str = "namespace, name, body, created_at, updated_at";
const TAG_COLUMNS: &str = "namespace, name, created_at, updated_at";
const ASSOCIATION_COLUMNS: &str = "namespace, resource_type, prefix, properties_target, created_at, updated_at";

/// A failed batch: `Duplicate` when a statement hit a unique key.
fn batch_error(e: worker::Error) -> StoreError {
    let message = e.to_string();
    if message.contains("UNIQUE") || message.contains("PRIMARY KEY") {
        StoreError::Duplicate
    } else {
        StoreError::Backend(message)
    }
}

/// Which definition table: objects or properties (same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `metadef_objects`.
    Object,
    /// `metadef_properties`.
    Property,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Object => "metadef_objects",
            Kind::Property => "metadef_properties",
        }
    }
}

/// The child tables, in the order a namespace's contents are removed.
const CHILD_TABLES: [&str; 4] = ["metadef_objects", "metadef_properties", "metadef_tags", "metadef_associations"];

#[derive(Deserialize)]
struct NamespaceRow {
    namespace: String,
    display_name: Option<String>,
    description: Option<String>,
    visibility: String,
    protected: i64,
    owner: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Deserialize)]
struct DefinitionRow {
    name: String,
    body: String,
    created_at: String,
    updated_at: String,
}

#[derive(Deserialize)]
struct TagRow {
    name: String,
    created_at: String,
    updated_at: String,
}

#[derive(Deserialize)]
struct AssociationRow {
    namespace: String,
    resource_type: String,
    prefix: Option<String>,
    properties_target: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<NamespaceRow> for Namespace {
    type Error = StoreError;
    fn try_from(row: NamespaceRow) -> Result<Namespace, StoreError> {
        Ok(Namespace {
            visibility: NamespaceVisibility::parse(&row.visibility)
                .ok_or_else(|| StoreError::Corrupt(format!("visibility of namespace {}", row.namespace)))?,
            protected: row.protected != 0,
            namespace: row.namespace,
            display_name: row.display_name,
            description: row.description,
            owner: row.owner,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl TryFrom<DefinitionRow> for Definition {
    type Error = StoreError;
    fn try_from(row: DefinitionRow) -> Result<Definition, StoreError> {
        Ok(Definition {
            body: serde_json::from_str(&row.body)
                .map_err(|_| StoreError::Corrupt(format!("definition {}", row.name)))?,
            name: row.name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl From<AssociationRow> for Association {
    fn from(row: AssociationRow) -> Association {
        Association {
            resource_type: row.resource_type,
            prefix: row.prefix,
            properties_target: row.properties_target,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn maybe(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, text)
}

impl Metadefs {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> Metadefs {
        Metadefs { db }
    }

    /// Runs `batch` atomically: how many rows each statement changed.
    /// `Duplicate` when one hit a unique key (and then nothing changed).
    async fn run(&self, batch: Batch) -> Result<Vec<usize>, StoreError> {
        let statements = batch
            .statements
            .iter()
            .map(|(sql, params)| self.db.statement(sql, params))
            .collect::<Result<Vec<D1PreparedStatement>, StoreError>>()?;
        let results = self.db.batch(statements).await.map_err(batch_error)?;
        results.iter().map(|r| Ok(r.meta().map_err(batch_error)?.and_then(|m| m.changes).unwrap_or(0))).collect()
    }

    // Namespaces.

    /// Every namespace with its associations (the list filters and pages
    /// in the domain; the catalog holds few namespaces).
    pub async fn namespaces(&self) -> Result<Vec<(Namespace, Vec<Association>)>, StoreError> {
        let rows = self.db.rows::<NamespaceRow>("SELECT * FROM metadef_namespaces", &[]).await?;
        let associations =
            self.db.rows::<AssociationRow>("SELECT * FROM metadef_associations ORDER BY rowid", &[]).await?;
        rows.into_iter()
            .map(|row| {
                let ns = Namespace::try_from(row)?;
                let own = associations.iter().filter(|a| a.namespace == ns.namespace).map(|a| Association {
                    resource_type: a.resource_type.clone(),
                    prefix: a.prefix.clone(),
                    properties_target: a.properties_target.clone(),
                    created_at: a.created_at.clone(),
                    updated_at: a.updated_at.clone(),
                });
                let own = own.collect();
                Ok((ns, own))
            })
            .collect()
    }

    /// One namespace.
    pub async fn namespace(&self, name: &str) -> Result<Option<Namespace>, StoreError> {
        let rows =
            self.db.rows::<NamespaceRow>("SELECT * FROM metadef_namespaces WHERE namespace = ?", &[text(name)]).await?;
        rows.into_iter().next().map(Namespace::try_from).transpose()
    }

    /// Everything in a namespace.
    pub async fn contents(&self, name: &str) -> Result<Contents, StoreError> {
        Ok(Contents {
            objects: self.definitions(Kind::Object, name).await?,
            properties: self.definitions(Kind::Property, name).await?,
            tags: self.tags(name).await?,
            associations: self.associations(name).await?,
        })
    }

    /// Adds a namespace with all its contents, atomically; `Duplicate` if
    /// the name is taken (and then nothing is written).
    pub async fn create_namespace(&self, new: &NewNamespace) -> Result<(), StoreError> {
        let name = new.namespace.namespace.as_str();
        let contents = &new.contents;
        let mut batch = Batch::default();
        let sql = "INSERT INTO metadef_namespaces (namespace, display_name, description, visibility, protected, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
        batch.push(sql, namespace_params(&new.namespace).to_vec());
        for (kind, definitions) in [(Kind::Object, &contents.objects), (Kind::Property, &contents.properties)] {
            for definition in definitions {
                batch.push_child(kind.table(), DEFINITION_COLUMNS, definition_params(name, definition));
            }
        }
        for tag in &contents.tags {
            batch.push_child("metadef_tags", TAG_COLUMNS, tag_params(name, tag));
        }
        for association in &contents.associations {
            push_association(&mut batch, name, association);
        }
        self.run(batch).await.map(|_| ())
    }

    /// Writes `ns` over the namespace named `old`, renaming its contents
    /// along, atomically: `false` if there is no namespace `old`,
    /// `Duplicate` if the new name is taken.
    pub async fn update_namespace(&self, old: &str, ns: &Namespace) -> Result<bool, StoreError> {
        let mut batch = Batch::default();
        let sql = "UPDATE metadef_namespaces SET namespace = ?, display_name = ?, description = ?, visibility = ?, protected = ?, owner = ?, created_at = ?, updated_at = ? WHERE namespace = ?";
        let mut params = namespace_params(ns).to_vec();
        params.push(text(old));
        batch.push(sql, params);
        if old != ns.namespace {
            for table in CHILD_TABLES {
                batch.push(
                    format!("UPDATE {table} SET namespace = ? WHERE namespace = ?"),
                    vec![text(&ns.namespace), text(old)],
                );
            }
        }
        Ok(self.run(batch).await?[0] == 1)
    }

    /// Removes a namespace and everything in it, atomically.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for table in CHILD_TABLES {
            batch.push(format!("DELETE FROM {table} WHERE namespace = ?"), vec![text(name)]);
        }
        batch.push("DELETE FROM metadef_namespaces WHERE namespace = ?", vec![text(name)]);
        self.run(batch).await.map(|_| ())
    }

    // Objects and properties.

    /// The objects or properties of a namespace, by name.
    pub async fn definitions(&self, kind: Kind, namespace: &str) -> Result<Vec<Definition>, StoreError> {
        let sql = format!("SELECT * FROM {} WHERE namespace = ? ORDER BY name", kind.table());
        self.db.rows::<DefinitionRow>(&sql, &[text(namespace)]).await?.into_iter().map(Definition::try_from).collect()
    }

    /// One object or property.
    pub async fn definition(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Definition>, StoreError> {
        let sql = format!("SELECT * FROM {} WHERE namespace = ? AND name = ?", kind.table());
        let rows = self.db.rows::<DefinitionRow>(&sql, &[text(namespace), text(name)]).await?;
        rows.into_iter().next().map(Definition::try_from).transpose()
    }

    /// Adds an object or property: `false` if the namespace is gone,
    /// `Duplicate` if the name is taken.
    pub async fn insert_definition(&self, kind: Kind, namespace: &str, d: &Definition) -> Result<bool, StoreError> {
        let params = definition_params(namespace, d);
        let sql = child_insert(kind.table(), DEFINITION_COLUMNS, params.len());
        Ok(self.db.insert(&sql, &params).await? == 1)
    }

    /// Replaces the object or property `old` with `d` (possibly renamed):
    /// `false` if there is no `old`, `Duplicate` if the new name is taken.
    pub async fn update_definition(
        &self,
        kind: Kind,
        namespace: &str,
        old: &str,
        d: &Definition,
    ) -> Result<bool, StoreError> {
        let sql =
            format!("UPDATE {} SET name = ?, body = ?, updated_at = ? WHERE namespace = ? AND name = ?", kind.table());
        let body = serde_json::Value::Object(d.body.clone()).to_string();
        let params = [text(&d.name), text(&body), text(&d.updated_at), text(namespace), text(old)];
        Ok(self.db.insert(&sql, &params).await? == 1)
    }

    /// Removes one object or property (`true` if it existed), or all of
    /// them with `name` `None`.
    pub async fn delete_definitions(
        &self,
        kind: Kind,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<bool, StoreError> {
        delete_children(&self.db, kind.table(), "name", namespace, name).await
    }

    // Tags.

    /// The tags of a namespace, oldest first.
    pub async fn tags(&self, namespace: &str) -> Result<Vec<Tag>, StoreError> {
        let sql =
            "SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace = ? ORDER BY created_at, rowid";
        let rows = self.db.rows::<TagRow>(sql, &[text(namespace)]).await?;
        Ok(rows.into_iter().map(|r| Tag { name: r.name, created_at: r.created_at, updated_at: r.updated_at }).collect())
    }

    /// Adds tags, atomically: `false` if the namespace is gone,
    /// `Duplicate` if it has one of them (and then none is added). With
    /// `replace`, the tags the namespace had are removed in the same batch,
    /// so concurrent replacements leave exactly one request's set.
    pub async fn insert_tags(&self, namespace: &str, tags: &[Tag], replace: bool) -> Result<bool, StoreError> {
        let mut batch = Batch::default();
        if replace {
            batch.push("DELETE FROM metadef_tags WHERE namespace = ?", vec![text(namespace)]);
        }
        for tag in tags {
            batch.push_child("metadef_tags", TAG_COLUMNS, tag_params(namespace, tag));
        }
        let changes = self.run(batch).await?;
        let inserted = &changes[usize::from(replace)..];
        Ok(inserted.iter().all(|&rows| rows == 1))
    }

    /// Renames a tag; `Duplicate` if the new name is taken.
    pub async fn rename_tag(&self, namespace: &str, old: &str, new: &str, now: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE metadef_tags SET name = ?, updated_at = ? WHERE namespace = ? AND name = ?";
        Ok(self.db.insert(sql, &[text(new), text(now), text(namespace), text(old)]).await? == 1)
    }

    /// Removes one tag (`true` if it existed), or all with `name` `None`.
    pub async fn delete_tags(&self, namespace: &str, name: Option<&str>) -> Result<bool, StoreError> {
        delete_children(&self.db, "metadef_tags", "name", namespace, name).await
    }

    // Resource types and associations.

    /// Every resource type, in the order they were added.
    pub async fn resource_types(&self) -> Result<Vec<ResourceType>, StoreError> {
        let sql = "SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY rowid";
        let rows = self.db.rows::<TagRow>(sql, &[]).await?;
        Ok(rows
            .into_iter()
            .map(|r| ResourceType { name: r.name, created_at: r.created_at, updated_at: r.updated_at })
            .collect())
    }

    /// The associations of a namespace, in the order they were made.
    pub async fn associations(&self, namespace: &str) -> Result<Vec<Association>, StoreError> {
        let sql = "SELECT * FROM metadef_associations WHERE namespace = ? ORDER BY rowid";
        Ok(self.db.rows::<AssociationRow>(sql, &[text(namespace)]).await?.into_iter().map(Association::from).collect())
    }

    /// Associates a namespace with a resource type, adding the type if the
    /// catalog does not know it, atomically: `false` if the namespace is
    /// gone, `Duplicate` if already associated.
    pub async fn insert_association(&self, namespace: &str, a: &Association) -> Result<bool, StoreError> {
        let mut batch = Batch::default();
        push_association(&mut batch, namespace, a);
        Ok(self.run(batch).await?.last() == Some(&1))
    }

    /// Removes an association (`true` if it existed).
    pub async fn delete_association(&self, namespace: &str, resource_type: &str) -> Result<bool, StoreError> {
        delete_children(&self.db, "metadef_associations", "resource_type", namespace, Some(resource_type)).await
    }
}

/// Adds the resource type of `a` to the catalog unless it is there, and
/// the association.
fn push_association(batch: &mut Batch, namespace: &str, a: &Association) {
    batch.push(
        "INSERT OR IGNORE INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES (?, 0, ?, ?)",
        vec![text(&a.resource_type), text(&a.created_at), text(&a.updated_at)],
    );
    let params = vec![
        text(namespace),
        text(&a.resource_type),
        maybe(a.prefix.as_deref()),
        maybe(a.properties_target.as_deref()),
        text(&a.created_at),
        text(&a.updated_at),
    ];
    batch.push_child("metadef_associations", ASSOCIATION_COLUMNS, params);
}

fn definition_params(namespace: &str, d: &Definition) -> Vec<SqlValue> {
    let body = serde_json::Value::Object(d.body.clone()).to_string();
    vec![text(namespace), text(&d.name), text(&body), text(&d.created_at), text(&d.updated_at)]
}

fn tag_params(namespace: &str, tag: &Tag) -> Vec<SqlValue> {
    vec![text(namespace), text(&tag.name), text(&tag.created_at), text(&tag.updated_at)]
}

fn namespace_params(ns: &Namespace) -> [SqlValue; 8] {
    [
        text(&ns.namespace),
        maybe(ns.display_name.as_deref()),
        maybe(ns.description.as_deref()),
        text(ns.visibility.as_str()),
        SqlValue::Int(i64::from(ns.protected)),
        maybe(ns.owner.as_deref()),
        text(&ns.created_at),
        text(&ns.updated_at),
    ]
}

async fn delete_children(
    db: &Db,
    table: &str,
    column: &str,
    namespace: &str,
    name: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = match name {
        Some(name) => {
            let sql = format!("DELETE FROM {table} WHERE namespace = ? AND {column} = ?");
            db.changes(&sql, &[text(namespace), text(name)]).await?
        }
        None => db.changes(&format!("DELETE FROM {table} WHERE namespace = ?"), &[text(namespace)]).await?,
    };
    Ok(changed > 0)
}
