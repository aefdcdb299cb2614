//! The import room: the rules of Glance's interoperable image import that
//! need no I/O, starting with which `web-download` URIs may be fetched
//! ([`uri_filter`]).

pub mod remote;
pub mod request;
pub mod uri_filter;
