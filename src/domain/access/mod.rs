//! Access: who is calling ([`auth`]), which projects an image is shared
//! with ([`member`]), and what each caller may do ([`policy`]).

pub mod auth;
pub mod member;
pub mod policy;
