//! Why the catalog refuses a metadefs request. The domain names the reason;
//! `src/error.rs` alone decides the HTTP status of each (`From` impls).

/// A request body or query the catalog refuses as malformed (400): a
/// field of the wrong type, a name too long, a key the schema does not
/// have. The message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// What kind of thing inside a namespace a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// An object (`/objects/{name}`).
    Object,
    /// A property (`/properties/{name}`).
    Property,
    /// A tag (`/tags/{name}`).
    Tag,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Item::Object => "object",
            Item::Property => "property",
            Item::Tag => "tag",
        })
    }
}

/// Every way a metadefs request fails besides storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadefError {
    /// The body or query is malformed.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such namespace, or one the caller may not see.
    #[error("Metadata definition namespace={0} was not found.")]
    NamespaceNotFound(String),
    /// No such object, property or tag in the namespace.
    #[error("Metadata definition {item}={name} was not found in namespace={namespace}.")]
    NotFound {
        /// What was looked for.
        item: Item,
        /// Its name.
        name: String,
        /// The namespace looked in.
        namespace: String,
    },
    /// A property asked for under a resource type whose prefix its name
    /// lacks.
    #[error("Property {requested} does not start with the prefix '{prefix}' of the resource type association.")]
    NotPrefixed {
        /// The name asked for.
        requested: String,
        /// The association's prefix.
        prefix: String,
    },
    /// The namespace is not associated with the resource type.
    #[error("The resource type {resource_type} is not associated with namespace={namespace}.")]
    NotAssociated {
        /// The resource type.
        resource_type: String,
        /// The namespace.
        namespace: String,
    },
    /// A namespace of that name exists.
    #[error("Metadata definition namespace={0} already exists.")]
    NamespaceExists(String),
    /// An object or property of that name exists in the namespace.
    #[error("Metadata definition {item}={name} already exists in namespace={namespace}.")]
    Exists {
        /// What kind.
        item: Item,
        /// The name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// A tag of that name exists in the namespace (or the request names
    /// it twice).
    #[error("A metadata tag with name={name} already exists in namespace={namespace}.")]
    TagExists {
        /// The tag.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The namespace is already associated with the resource type.
    #[error("The resource type {resource_type} is already associated with namespace={namespace}.")]
    AlreadyAssociated {
        /// The resource type.
        resource_type: String,
        /// The namespace.
        namespace: String,
    },
    /// A protected namespace cannot be deleted.
    #[error("Namespace {0} is protected and cannot be deleted (set protected to false first).")]
    NamespaceProtected(String),
    /// Nothing is deleted from a protected namespace.
    #[error("Cannot delete {what} of namespace {namespace}: it is protected (set protected to false first).")]
    ContentsProtected {
        /// The namespace.
        namespace: String,
        /// What the request would delete (`tag t`, `the objects`...).
        what: String,
    },
    /// Only administrators change the catalog.
    #[error("Only administrators may change metadata definitions.")]
    WriteForbidden,
    /// The caller may not read the catalog (`what`: what it asked to list).
    #[error("You are not permitted to list {0}.")]
    ReadForbidden(&'static str),
    /// The catalog is hidden from the caller (no reading role in a
    /// project, Glance's 404 for them).
    #[error("The resource could not be found.")]
    Hidden,
}
