//! `GET /v2/images`: the query string parsed with Glance's rules (filters,
//! both sort syntaxes, limit/marker) into a [`ListQuery`], and that query
//! turned into one parameterised SQL statement with keyset pagination, plus
//! the `first`/`next` links of the response.
//!
//! Pure: the store only binds [`SqlValue`]s and runs the text.

use crate::domain::image::status::ImageStatus;
use crate::domain::image::{Image, ImageId};
use crate::domain::time::{format_utc, parse_iso8601};

/// Default page size (`limit_param_default`).
pub const DEFAULT_LIMIT: u32 = 25;
/// Largest page (`api_limit_max`).
pub const MAX_LIMIT: u32 = 1000;

/// The most filters (other than tags and custom properties, which are
/// grouped) one list may combine: each costs one SQL condition and one
/// bound value, and D1 allows 100 values per statement.
pub const MAX_FILTERS: usize = 32;

/// A JSON array of SQL values (`in:` lists travel as one bound value).
fn json_array(values: &[SqlValue]) -> String {
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            SqlValue::Null => serde_json::Value::Null,
            SqlValue::Text(s) => serde_json::Value::String(s.clone()),
            SqlValue::Int(n) => serde_json::Value::from(*n),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// A value bound into SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// TEXT.
    Text(String),
    /// INTEGER (bound as a double: exact up to 2^53).
    Int(i64),
}

/// A query string Glance would refuse (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

fn bad(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

/// The keys Glance sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `name`
    Name,
    /// `status`
    Status,
    /// `container_format`
    ContainerFormat,
    /// `disk_format`
    DiskFormat,
    /// `size`
    Size,
    /// `id`
    Id,
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
}

impl SortKey {
    const ALL: [SortKey; 8] = [
        SortKey::Name,
        SortKey::Status,
        SortKey::ContainerFormat,
        SortKey::DiskFormat,
        SortKey::Size,
        SortKey::Id,
        SortKey::CreatedAt,
        SortKey::UpdatedAt,
    ];

    /// The column (and query) name.
    pub fn column(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::ContainerFormat => "container_format",
            SortKey::DiskFormat => "disk_format",
            SortKey::Size => "size",
            SortKey::Id => "id",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
        }
    }

    fn parse(raw: &str) -> Result<SortKey, QueryError> {
        SortKey::ALL
            .into_iter()
            .find(|k| k.column() == raw)
            .ok_or_else(|| bad(format!("Unsupported sort_key '{raw}': sort by name, status, container_format, disk_format, size, id, created_at or updated_at.")))
    }

    /// This key's value in an image, for the keyset condition after a marker.
    fn value_of(self, image: &Image) -> SqlValue {
        let text = |s: Option<&str>| s.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()));
        match self {
            SortKey::Name => text(image.name.as_deref()),
            SortKey::Status => text(Some(image.status.as_str())),
            SortKey::ContainerFormat => text(image.container_format.map(|f| f.as_str())),
            SortKey::DiskFormat => text(image.disk_format.map(|f| f.as_str())),
            SortKey::Size => image.size.map_or(SqlValue::Null, |s| SqlValue::Int(s as i64)),
            SortKey::Id => text(Some(image.id.as_str())),
            SortKey::CreatedAt => text(Some(&image.created_at)),
            SortKey::UpdatedAt => text(Some(&image.updated_at)),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl SortDir {
    fn parse(raw: &str) -> Result<SortDir, QueryError> {
        match raw {
            "asc" => Ok(SortDir::Asc),
            "desc" => Ok(SortDir::Desc),
            other => Err(bad(format!("Invalid sort direction '{other}': use asc or desc."))),
        }
    }
    fn sql(self) -> &'static str {
        match self {
            SortDir::Asc => "ASC",
            SortDir::Desc => "DESC",
        }
    }
}

/// The `visibility` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityFilter {
    /// No filter given: Glance's default view.
    Default,
    /// `visibility=all`.
    All,
    /// One visibility.
    Only(crate::domain::image::Visibility),
}

/// The `member_status` filter (applies to shared images of other projects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatusFilter {
    /// `pending`
    Pending,
    /// `accepted` (the default)
    Accepted,
    /// `rejected`
    Rejected,
    /// `all`
    All,
}

/// Comparison operators of the time filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl TimeOp {
    fn sql(self) -> &'static str {
        match self {
            TimeOp::Gt => ">",
            TimeOp::Gte => ">=",
            TimeOp::Lt => "<",
            TimeOp::Lte => "<=",
            TimeOp::Eq => "=",
            TimeOp::Neq => "!=",
        }
    }
}

impl MemberStatusFilter {
    /// The one status to require, or `None` for `all`.
    fn as_status(self) -> Option<&'static str> {
        match self {
            MemberStatusFilter::Pending => Some("pending"),
            MemberStatusFilter::Accepted => Some("accepted"),
            MemberStatusFilter::Rejected => Some("rejected"),
            MemberStatusFilter::All => None,
        }
    }
}

/// One filter condition.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    /// A column equal to one of the values.
    ColumnIn(&'static str, Vec<SqlValue>),
    /// A custom property equal to the value.
    Property(String, String),
    /// The image carries this tag.
    Tag(String),
    /// A numeric bound on `size`.
    SizeAtLeast(i64),
    SizeAtMost(i64),
    /// A time comparison on `created_at`/`updated_at`.
    Time(&'static str, TimeOp, String),
}

/// Who is listing: decides the default visibility view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The caller's project.
    pub project_id: Option<String>,
    /// The caller is an admin.
    pub is_admin: bool,
}

/// A parsed `GET /v2/images` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Page size.
    pub limit: u32,
    /// Start after this image.
    pub marker: Option<ImageId>,
    /// Sort keys with directions, tie-breakers included.
    pub sort: Vec<(SortKey, SortDir)>,
    /// The `visibility` filter.
    pub visibility: VisibilityFilter,
    /// The `member_status` filter.
    pub member_status: MemberStatusFilter,
    /// The `os_hidden` filter (default false).
    pub os_hidden: bool,
    filters: Vec<Filter>,
    /// The query as given (for `first`/`next`).
    pairs: Vec<(String, String)>,
}

/// The integer column filtered by equality on `key`: the sizes and the
/// plain columns.
fn integer_column(key: &str) -> Option<&'static str> {
    match key {
        "size" => Some("size"),
        "virtual_size" => Some("virtual_size"),
        _ => crate::domain::image::columns::plain_column(key).map(|c| c.name),
    }
}
const TEXT_COLUMNS: [&str; 9] =
    ["name", "id", "status", "container_format", "disk_format", "owner", "checksum", "os_hash_value", "os_hash_algo"];
const IN_CAPABLE: [&str; 5] = ["name", "id", "status", "container_format", "disk_format"];

/// Splits `in:a,b,"c,d"` into its values (quotes protect commas).
fn split_in_values(list: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    values.push(current);
    values
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, QueryError> {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!("Invalid value '{raw}' for {key}: use true or false."))),
    }
}

fn parse_int(key: &str, raw: &str) -> Result<i64, QueryError> {
    raw.trim().parse::<i64>().map_err(|_| bad(format!("Invalid value '{raw}' for {key}: must be an integer.")))
}

impl ListQuery {
    /// Parses a raw query string (without the `?`).
    pub fn parse(query: &str) -> Result<ListQuery, QueryError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let mut limit = DEFAULT_LIMIT;
        let mut marker = None;
        let mut sort_keys: Vec<SortKey> = Vec::new();
        let mut sort_dirs: Vec<SortDir> = Vec::new();
        let mut new_sort: Option<Vec<(SortKey, SortDir)>> = None;
        let mut visibility = VisibilityFilter::Default;
        let mut member_status = MemberStatusFilter::Accepted;
        let mut os_hidden = false;
        let mut filters = Vec::new();

        for (key, value) in &pairs {
            match key.as_str() {
                "limit" => {
                    let n: i64 = value.trim().parse().map_err(|_| bad("limit param must be an integer"))?;
                    if n < 0 {
                        return Err(bad("limit param must be positive"));
                    }
                    limit = n.min(MAX_LIMIT as i64) as u32;
                }
                "marker" => {
                    marker = Some(ImageId::parse(value).ok_or_else(|| bad(format!("No image found with ID {value}")))?);
                }
                "sort_key" => {
                    for part in value.split(',') {
                        sort_keys.push(SortKey::parse(part.trim())?);
                    }
                }
                "sort_dir" => {
                    for part in value.split(',') {
                        sort_dirs.push(SortDir::parse(part.trim())?);
                    }
                }
                "sort" => {
                    let mut parsed = Vec::new();
                    for item in value.split(',') {
                        let mut pieces = item.trim().splitn(2, ':');
                        let key = SortKey::parse(pieces.next().unwrap_or("").trim())?;
                        let dir = match pieces.next() {
                            Some(dir) => SortDir::parse(dir.trim())?,
                            None => SortDir::Desc,
                        };
                        parsed.push((key, dir));
                    }
                    new_sort.get_or_insert_with(Vec::new).extend(parsed);
                }
                "visibility" => {
                    visibility = match value.as_str() {
                        "all" => VisibilityFilter::All,
                        other => VisibilityFilter::Only(
                            crate::domain::image::Visibility::parse(other)
                                .map_err(|_| bad(format!("Invalid visibility value: {other}")))?,
                        ),
                    }
                }
                "member_status" => {
                    member_status = match value.as_str() {
                        "pending" => MemberStatusFilter::Pending,
                        "accepted" => MemberStatusFilter::Accepted,
                        "rejected" => MemberStatusFilter::Rejected,
                        "all" => MemberStatusFilter::All,
                        other => return Err(bad(format!("Invalid status value: {other}"))),
                    }
                }
                "os_hidden" => os_hidden = parse_bool(key, value)?,
                "protected" => {
                    let flag = parse_bool(key, value)?;
                    filters.push(Filter::ColumnIn("protected", vec![SqlValue::Int(i64::from(flag))]));
                }
                "tag" => filters.push(Filter::Tag(value.clone())),
                "size_min" => filters.push(Filter::SizeAtLeast(parse_int(key, value)?)),
                "size_max" => filters.push(Filter::SizeAtMost(parse_int(key, value)?)),
                "created_at" | "updated_at" => {
                    let column = if key == "created_at" { "created_at" } else { "updated_at" };
                    let (op, when) = match value.split_once(':') {
                        Some((op, rest)) if ["gt", "gte", "lt", "lte", "eq", "neq"].contains(&op) => {
                            let op = match op {
                                "gt" => TimeOp::Gt,
                                "gte" => TimeOp::Gte,
                                "lt" => TimeOp::Lt,
                                "lte" => TimeOp::Lte,
                                "eq" => TimeOp::Eq,
                                _ => TimeOp::Neq,
                            };
                            (op, rest)
                        }
                        _ => (TimeOp::Eq, value.as_str()),
                    };
                    let seconds = parse_iso8601(when).ok_or_else(|| {
                        bad(format!("Invalid value '{value}' for {key}: use [gt|gte|lt|lte|eq|neq:]<ISO 8601 time>."))
                    })?;
                    filters.push(Filter::Time(column, op, format_utc(seconds)));
                }
                "changes-since" => {
                    return Err(bad(
                        "The changes-since filter is not supported by the v2 API; use updated_at=gte:<time>.",
                    ))
                }
                _ => filters.push(Self::equality_filter(key, value)?),
            }
        }

        let mut sort = match new_sort {
            Some(_) if !sort_keys.is_empty() || !sort_dirs.is_empty() => {
                return Err(bad("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'."))
            }
            Some(sort) => sort,
            None => {
                if sort_keys.is_empty() {
                    sort_keys.push(SortKey::CreatedAt);
                }
                let dirs = match sort_dirs.len() {
                    0 => vec![SortDir::Desc; sort_keys.len()],
                    1 => vec![sort_dirs[0]; sort_keys.len()],
                    n if n == sort_keys.len() => sort_dirs,
                    _ => {
                        return Err(bad(
                            "The number of sort_dir values must be 1 or equal to the number of sort_key values.",
                        ))
                    }
                };
                sort_keys.into_iter().zip(dirs).collect()
            }
        };
        let mut seen = Vec::new();
        sort.retain(|(key, _)| {
            let fresh = !seen.contains(key);
            seen.push(*key);
            fresh
        });
        for tie_breaker in [SortKey::CreatedAt, SortKey::Id] {
            if !sort.iter().any(|(key, _)| *key == tie_breaker) {
                sort.push((tie_breaker, SortDir::Desc));
            }
        }
        let conditions = filters.iter().filter(|f| !matches!(f, Filter::Tag(_) | Filter::Property(..))).count();
        if conditions > MAX_FILTERS {
            return Err(bad(format!(
                "Too many filters: at most {MAX_FILTERS} filters other than tags and custom properties may be combined (there were {conditions}); use in: lists to match several values."
            )));
        }
        Ok(ListQuery { limit, marker, sort, visibility, member_status, os_hidden, filters, pairs })
    }

    fn equality_filter(key: &str, value: &str) -> Result<Filter, QueryError> {
        let values: Vec<String> = match value.strip_prefix("in:") {
            Some(list) if IN_CAPABLE.contains(&key) => split_in_values(list),
            _ => vec![value.to_owned()],
        };
        if key == "status" {
            for status in &values {
                status.parse::<ImageStatus>().map_err(|e| bad(e.to_string()))?;
            }
        }
        if let Some(column) = TEXT_COLUMNS.iter().find(|c| **c == key) {
            return Ok(Filter::ColumnIn(column, values.into_iter().map(SqlValue::Text).collect()));
        }
        if let Some(column) = integer_column(key) {
            let numbers = values.iter().map(|v| parse_int(key, v).map(SqlValue::Int)).collect::<Result<_, _>>()?;
            return Ok(Filter::ColumnIn(column, numbers));
        }
        Ok(Filter::Property(key.to_owned(), value.to_owned()))
    }

    /// The SQL selecting one page (rows of the `images` table), given the
    /// marker image when there is one. `limit` rows are fetched.
    pub fn to_sql(&self, viewer: &Viewer, marker: Option<&Image>) -> (String, Vec<SqlValue>) {
        let mut conditions: Vec<String> = vec!["deleted = 0".into(), "status != ?".into()];
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(ImageStatus::Killed.as_str().into())];

        conditions.push(format!("os_hidden = {}", i64::from(self.os_hidden)));
        match (self.visibility, viewer.is_admin) {
            (VisibilityFilter::All, true) => {}
            (VisibilityFilter::Only(v), true) => {
                params.push(SqlValue::Text(v.as_str().into()));
                conditions.push("visibility = ?".into());
            }
            (VisibilityFilter::Default, true) => {
                // Admins see everything but community images their project
                // does not own (`=`, not `IS`: a caller without a project
                // owns nothing, not the ownerless images).
                params.push(owner_param(viewer));
                conditions.push("(visibility != 'community' OR owner = ?)".into());
            }
            (filter, false) => {
                // Non-admins: public, community (owned only by default),
                // their own images, and shared images of other projects
                // whose membership has the requested status (default
                // accepted), as Glance's `_select_images_query`. `owner = ?`
                // never matches for a caller without a project.
                params.push(owner_param(viewer));
                let mut view = String::from("(visibility = 'public' OR owner = ?");
                if filter != VisibilityFilter::Default {
                    view.push_str(" OR visibility = 'community'");
                }
                view.push_str(
                    " OR (visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members AS m WHERE m.image_id = images.id AND m.member IS ?",
                );
                params.push(owner_param(viewer));
                if let Some(status) = self.member_status.as_status() {
                    view.push_str(" AND m.status = ?");
                    params.push(SqlValue::Text(status.into()));
                }
                view.push_str(")))");
                conditions.push(view);
                if let VisibilityFilter::Only(v) = filter {
                    params.push(SqlValue::Text(v.as_str().into()));
                    conditions.push("visibility = ?".into());
                }
            }
        }

        // D1 allows 100 bound values and a shallow expression tree per
        // statement, so each kind of filter costs one condition and one
        // value however many values it has: `in:` lists, tags and
        // properties travel as one JSON array each.
        let mut tags: Vec<&str> = Vec::new();
        let mut properties: Vec<[&str; 2]> = Vec::new();
        for filter in &self.filters {
            match filter {
                Filter::ColumnIn(column, values) => match values.as_slice() {
                    [one] => {
                        conditions.push(format!("{column} = ?"));
                        params.push(one.clone());
                    }
                    many => {
                        conditions.push(format!("{column} IN (SELECT value FROM json_each(?))"));
                        params.push(SqlValue::Text(json_array(many)));
                    }
                },
                Filter::Property(key, value) => properties.push([key, value]),
                Filter::Tag(tag) => {
                    if !tags.contains(&tag.as_str()) {
                        tags.push(tag);
                    }
                }
                Filter::SizeAtLeast(n) => {
                    conditions.push("size >= ?".into());
                    params.push(SqlValue::Int(*n));
                }
                Filter::SizeAtMost(n) => {
                    conditions.push("size <= ?".into());
                    params.push(SqlValue::Int(*n));
                }
                Filter::Time(column, op, when) => {
                    conditions.push(format!("{column} {} ?", op.sql()));
                    params.push(SqlValue::Text(when.clone()));
                }
            }
        }
        if !tags.is_empty() {
            // Every requested tag is among the image's tags.
            conditions.push(
                "(SELECT COUNT(DISTINCT t.value) FROM json_each(images.tags) AS t WHERE t.value IN (SELECT value FROM json_each(?))) = ?"
                    .into(),
            );
            params.push(SqlValue::Text(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into())));
            params.push(SqlValue::Int(tags.len() as i64));
        }
        if !properties.is_empty() {
            // No requested [key, value] pair is missing from the image.
            conditions.push(
                "NOT EXISTS (SELECT 1 FROM json_each(?) AS w WHERE NOT EXISTS (SELECT 1 FROM json_each(images.properties) AS p WHERE p.key = json_extract(w.value, '$[0]') AND p.value = json_extract(w.value, '$[1]')))"
                    .into(),
            );
            params.push(SqlValue::Text(serde_json::to_string(&properties).unwrap_or_else(|_| "[]".into())));
        }

        if let Some(marker) = marker {
            let (condition, values) = self.after_marker(marker);
            conditions.push(condition);
            params.extend(values);
        }

        let order: Vec<String> = self.sort.iter().map(|(k, d)| format!("{} {}", k.column(), d.sql())).collect();
        let sql = format!(
            "SELECT * FROM images WHERE {} ORDER BY {} LIMIT {}",
            conditions.join(" AND "),
            order.join(", "),
            self.limit
        );
        (sql, params)
    }

    /// Rows strictly after `marker` in the sort order.
    fn after_marker(&self, marker: &Image) -> (String, Vec<SqlValue>) {
        let keys: Vec<SortPosition> = self
            .sort
            .iter()
            .map(|(key, dir)| SortPosition {
                column: key.column(),
                descending: *dir == SortDir::Desc,
                value: key.value_of(marker),
            })
            .collect();
        rows_after(&keys)
    }

    /// Whether the query names a visibility (v1 lists default to public).
    pub fn names_visibility(&self) -> bool {
        self.visibility != VisibilityFilter::Default
    }

    /// `first`: the query without its marker.
    pub fn first_link(&self) -> String {
        page_link("/v2/images", &self.pairs, None)
    }

    /// `next`: the query with the marker set to the page's last image.
    pub fn next_link(&self, last_id: &str) -> String {
        page_link("/v2/images", &self.pairs, Some(last_id))
    }
}

/// One key of a sort order at a marker row: its column, its direction and
/// the marker's value in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SortPosition {
    /// The column.
    pub column: &'static str,
    /// Sorted descending.
    pub descending: bool,
    /// The marker row's value.
    pub value: SqlValue,
}

/// The condition selecting the rows strictly after a marker row in a sort
/// order (keyset paging, for images and tasks alike). SQLite puts NULLs
/// first ascending and last descending; the conditions follow that order.
pub fn rows_after(keys: &[SortPosition]) -> (String, Vec<SqlValue>) {
    let mut alternatives = Vec::new();
    let mut params = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let mut parts = Vec::new();
        let mut part_params = Vec::new();
        for earlier in &keys[..index] {
            parts.push(format!("{} IS ?", earlier.column));
            part_params.push(earlier.value.clone());
        }
        let column = key.column;
        let after = match (key.descending, &key.value) {
            (false, SqlValue::Null) => format!("{column} IS NOT NULL"),
            (false, value) => {
                part_params.push(value.clone());
                format!("{column} > ?")
            }
            (true, SqlValue::Null) => continue,
            (true, value) => {
                part_params.push(value.clone());
                format!("({column} < ? OR {column} IS NULL)")
            }
        };
        parts.push(after);
        alternatives.push(format!("({})", parts.join(" AND ")));
        params.extend(part_params);
    }
    if alternatives.is_empty() {
        ("0".into(), params)
    } else {
        (format!("({})", alternatives.join(" OR ")), params)
    }
}

/// A list's `first` (no `marker`) or `next` (`marker` = the page's last
/// id) link: `base` with the query's other parameters.
pub fn page_link(base: &str, pairs: &[(String, String)], marker: Option<&str>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "marker") {
        serializer.append_pair(k, v);
    }
    if let Some(marker) = marker {
        serializer.append_pair("marker", marker);
    }
    let query = serializer.finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

fn owner_param(viewer: &Viewer) -> SqlValue {
    viewer.project_id.clone().map_or(SqlValue::Null, SqlValue::Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::{Image, Writer};
    use serde_json::json;

    fn admin() -> Viewer {
        Viewer { project_id: Some("p1".into()), is_admin: true }
    }

    fn parse(q: &str) -> ListQuery {
        ListQuery::parse(q).unwrap()
    }

    fn error(q: &str) -> String {
        ListQuery::parse(q).unwrap_err().0
    }

    #[test]
    fn defaults_are_25_newest_first_with_id_tie_breaker() {
        let q = parse("");
        assert_eq!(q.limit, 25);
        assert_eq!(q.sort, vec![(SortKey::CreatedAt, SortDir::Desc), (SortKey::Id, SortDir::Desc)]);
        let (sql, params) = q.to_sql(&admin(), None);
        assert!(sql.ends_with("ORDER BY created_at DESC, id DESC LIMIT 25"), "{sql}");
        assert!(sql.contains("deleted = 0") && sql.contains("status != ?") && sql.contains("os_hidden = 0"));
        assert_eq!(params, vec![SqlValue::Text("killed".into()), SqlValue::Text("p1".into())]);
    }

    #[test]
    fn limit_is_validated_and_capped() {
        assert_eq!(error("limit=abc"), "limit param must be an integer");
        assert_eq!(error("limit=-1"), "limit param must be positive");
        assert_eq!(parse("limit=5000").limit, 1000);
        assert_eq!(parse("limit=0").limit, 0);
    }

    #[test]
    fn classic_sort_form() {
        assert_eq!(
            parse("sort_key=name&sort_dir=asc").sort,
            vec![(SortKey::Name, SortDir::Asc), (SortKey::CreatedAt, SortDir::Desc), (SortKey::Id, SortDir::Desc)]
        );
        // No direction means descending (observed on Glance 33).
        assert_eq!(parse("sort_key=name").sort[0], (SortKey::Name, SortDir::Desc));
        // One direction applies to every key; several must match in number.
        let q = parse("sort_key=name&sort_key=size&sort_dir=asc");
        assert_eq!(q.sort[..2], [(SortKey::Name, SortDir::Asc), (SortKey::Size, SortDir::Asc)]);
        let q = parse("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc");
        assert_eq!(q.sort[..2], [(SortKey::Name, SortDir::Asc), (SortKey::Size, SortDir::Desc)]);
        assert!(
            error("sort_key=name&sort_key=size&sort_key=id&sort_dir=asc&sort_dir=desc").contains("number of sort_dir")
        );
        assert!(error("sort_key=owner").contains("Unsupported sort_key"));
        assert!(error("sort_dir=up").contains("Invalid sort direction"));
    }

    #[test]
    fn new_sort_form() {
        let q = parse("sort=name:asc,size");
        assert_eq!(q.sort[..2], [(SortKey::Name, SortDir::Asc), (SortKey::Size, SortDir::Desc)]);
        assert!(error("sort=name&sort_key=size").contains("cannot be combined"));
        assert!(error("sort=name&sort_dir=asc").contains("cannot be combined"));
        assert!(error("sort=name:sideways").contains("Invalid sort direction"));
        assert!(error("sort=bogus:asc").contains("Unsupported sort_key"));
    }

    #[test]
    fn filters_become_parameterised_conditions() {
        let q = parse("name=in:a,\"b,c\"&status=active&tag=x&tag=y&size_min=1&size_max=9&protected=true&os_distro=debian&owner=p2&min_ram=512&checksum=abc&os_hash_value=def");
        let (sql, params) = q.to_sql(&admin(), None);
        assert!(sql.contains("name IN (SELECT value FROM json_each(?))"));
        assert!(sql.contains("status = ?"));
        assert_eq!(sql.matches("json_each(images.tags)").count(), 1, "all tags in one condition");
        assert!(sql.contains("size >= ?") && sql.contains("size <= ?"));
        assert!(sql.contains("protected = ?"));
        assert_eq!(sql.matches("json_each(images.properties)").count(), 1);
        assert!(sql.contains("owner = ?") && sql.contains("min_ram = ?"));
        assert!(sql.contains("checksum = ?") && sql.contains("os_hash_value = ?"));
        assert!(params.contains(&SqlValue::Text(r#"["a","b,c"]"#.into())));
        assert!(params.contains(&SqlValue::Text(r#"["x","y"]"#.into())));
        assert!(params.contains(&SqlValue::Text(r#"[["os_distro","debian"]]"#.into())));
        assert!(params.contains(&SqlValue::Int(512)));
        assert_eq!(sql.matches('?').count(), params.len());
    }

    #[test]
    fn any_number_of_values_tags_and_properties_costs_a_bounded_number_of_sql_values() {
        let names: Vec<String> = (0..500).map(|i| format!("n{i}")).collect();
        let tags: String = (0..300).map(|i| format!("&tag=t{i}")).collect();
        let properties: String = (0..300).map(|i| format!("&p{i}=v")).collect();
        let q = parse(&format!("name=in:{}{tags}{properties}", names.join(",")));
        let (sql, params) = q.to_sql(&admin(), None);
        assert!(params.len() < 10, "{} values", params.len());
        assert!(sql.matches(" AND ").count() < 20, "{sql}");
    }

    #[test]
    fn too_many_other_filters_are_refused_naming_the_limit() {
        let many: Vec<String> = (0..=MAX_FILTERS).map(|i| format!("size_min={i}")).collect();
        assert!(error(&many.join("&")).contains(&format!("at most {MAX_FILTERS} filters")));
        let enough: Vec<String> = (0..MAX_FILTERS).map(|i| format!("size_min={i}")).collect();
        let (_, params) = parse(&enough.join("&")).to_sql(&admin(), None);
        assert!(params.len() < 100);
    }

    #[test]
    fn filter_values_are_validated() {
        assert!(error("protected=yes").contains("protected"));
        assert!(error("os_hidden=maybe").contains("os_hidden"));
        assert!(error("visibility=secret").contains("Invalid visibility value"));
        assert!(error("member_status=maybe").contains("Invalid status value"));
        assert!(error("size_min=big").contains("size_min"));
        assert!(error("size=big").contains("size"));
        assert!(error("status=bogus").contains("Invalid status value"));
        assert!(error("created_at=gt:yesterday").contains("created_at"));
        assert!(error("changes-since=2020-01-01").contains("changes-since"));
        assert!(error("marker=not-a-uuid").contains("No image found"));
    }

    #[test]
    fn time_filters_normalise_to_utc_seconds() {
        let q = parse("created_at=gte:2026-11-22T14:00:00%2B02:00&updated_at=2026-11-22T12:00:00Z");
        let (sql, params) = q.to_sql(&admin(), None);
        assert!(sql.contains("created_at >= ?") && sql.contains("updated_at = ?"));
        assert!(params.contains(&SqlValue::Text("2026-11-22T12:00:00Z".into())));
    }

    #[test]
    fn hidden_and_visibility_views() {
        let (sql, _) = parse("os_hidden=true").to_sql(&admin(), None);
        assert!(sql.contains("os_hidden = 1"));
        let (sql, params) = parse("visibility=community").to_sql(&admin(), None);
        assert!(sql.contains("visibility = ?") && !sql.contains("owner ="));
        assert_eq!(params, vec![SqlValue::Text("killed".into()), SqlValue::Text("community".into())]);
        let (sql, _) = parse("visibility=all").to_sql(&admin(), None);
        assert!(!sql.contains("visibility"));
        let user = Viewer { project_id: Some("p2".into()), is_admin: false };
        let (sql, params) = parse("").to_sql(&user, None);
        assert!(sql.contains("(visibility = 'public' OR owner = ? OR (visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members AS m WHERE m.image_id = images.id AND m.member IS ? AND m.status = ?)))"), "{sql}");
        assert!(!sql.contains("OR visibility = 'community'"), "others' community images are listed only on request");
        assert_eq!(
            params,
            vec![
                SqlValue::Text("killed".into()),
                SqlValue::Text("p2".into()),
                SqlValue::Text("p2".into()),
                SqlValue::Text("accepted".into())
            ]
        );
        let (sql, params) = parse("visibility=community").to_sql(&user, None);
        assert!(sql.contains("OR visibility = 'community'"));
        assert_eq!(sql.matches('?').count(), params.len());
        let (sql, params) = parse("member_status=pending&visibility=shared").to_sql(&user, None);
        assert!(params.contains(&SqlValue::Text("pending".into())) && sql.contains("visibility = ?"));
        let (sql, params) = parse("member_status=all").to_sql(&user, None);
        assert!(!sql.contains("m.status"));
        assert_eq!(sql.matches('?').count(), params.len());
    }

    #[test]
    fn marker_becomes_a_keyset_condition() {
        let writer = Writer { is_admin: true, project_id: Some("p1") };
        let marker = Image::from_create_request(&json!({"name": "m"}), writer, "2026-01-01T00:00:00Z").unwrap();
        let q = parse("sort_key=name&sort_dir=asc");
        let (sql, params) = q.to_sql(&admin(), Some(&marker));
        assert!(sql.contains("((name > ?) OR (name IS ? AND (created_at < ? OR created_at IS NULL)) OR (name IS ? AND created_at IS ? AND (id < ? OR id IS NULL)))"), "{sql}");
        assert_eq!(sql.matches('?').count(), params.len());
        // A NULL marker value: ascending continues with non-NULLs, descending has nothing after it.
        let unnamed = Image::from_create_request(&json!({}), writer, "2026-01-01T00:00:00Z").unwrap();
        let (sql, _) = q.to_sql(&admin(), Some(&unnamed));
        assert!(sql.contains("(name IS NOT NULL)"));
        let (sql, _) = parse("sort_key=name&sort_dir=desc").to_sql(&admin(), Some(&unnamed));
        assert!(!sql.contains("name < ?"), "{sql}");
    }

    #[test]
    fn links_keep_the_query_and_replace_the_marker() {
        let q = parse("limit=2&marker=801fccc6-f82d-48d2-97bb-69157f5ff411&name=a%20b");
        assert_eq!(q.first_link(), "/v2/images?limit=2&name=a+b");
        assert_eq!(q.next_link("x"), "/v2/images?limit=2&name=a+b&marker=x");
        assert_eq!(parse("").first_link(), "/v2/images");
        assert_eq!(parse("limit=2").next_link("id1"), "/v2/images?limit=2&marker=id1");
    }
}
