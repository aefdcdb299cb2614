//! The isolate's memory of the image records it read last, for one use: a
//! revalidation (`If-None-Match` / `If-Modified-Since` on an image's
//! metadata) answered 304 without asking D1. A record is remembered with
//! the moment and the session bookmark of its read, and recalled only
//! while it is younger than the deployment's bound and at least as fresh
//! as the bookmark the request sent: the same promise as a read replica's
//! (boundedly stale; read-your-writes with the bookmark). Every write of an
//! image through this isolate forgets it, a read that raced a write is not
//! remembered, and a read that found the image gone drops it, so this
//! isolate never answers from a record older than its own writes or reads.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::domain::image::Image;
use crate::domain::wire::bookmark::SessionStart;

/// Records kept at most (forgotten all at once past this: a revalidation
/// answered from D1 costs a read, never a wrong answer).
const CAPACITY: usize = 4096;

struct Remembered {
    image: Image,
    read_at_ms: f64,
    bookmark: Option<String>,
}

#[derive(Default)]
struct Memory {
    /// Bumped by every write: a read that saw it change while in flight
    /// may have read the record before the write.
    writes: u64,
    records: HashMap<String, Remembered>,
}

thread_local! {
    static MEMORY: RefCell<Memory> = RefCell::default();
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The write count, taken before a read (see [`remember`]).
pub fn writes() -> u64 {
    MEMORY.with(|m| m.borrow().writes)
}

/// Remembers `image` as read by a session now at `bookmark`, unless a write
/// happened since `writes_before`.
pub fn remember(image: &Image, bookmark: Option<String>, writes_before: u64) {
    MEMORY.with(|m| {
        let mut memory = m.borrow_mut();
        if memory.writes != writes_before {
            return;
        }
        if memory.records.len() >= CAPACITY && !memory.records.contains_key(image.id.as_str()) {
            memory.records.clear();
        }
        let remembered = Remembered { image: image.clone(), read_at_ms: now_ms(), bookmark };
        memory.records.insert(image.id.to_string(), remembered);
    });
}

/// Forgets image `id` (called before and after every write of it).
pub fn forget(id: &str) {
    MEMORY.with(|m| {
        let mut memory = m.borrow_mut();
        memory.writes += 1;
        memory.records.remove(id);
    });
}

/// Drops the record of `id` after a read found no such image (deleted, or
/// never there): a revalidation never outlives what this isolate itself
/// saw. Dropping is always safe (D1 answers instead), so it needs no write
/// count.
pub fn drop_missing(id: &str) {
    MEMORY.with(|m| {
        m.borrow_mut().records.remove(id);
    });
}

/// The record of `id` read at most `max_age_ms` ago in a session at least
/// as fresh as `start` asks, with that session's bookmark.
pub fn recall(id: &str, max_age_ms: f64, start: &SessionStart) -> Option<(Image, Option<String>)> {
    MEMORY.with(|m| {
        let memory = m.borrow();
        let remembered = memory.records.get(id)?;
        let young = now_ms() - remembered.read_at_ms <= max_age_ms;
        (young && start.satisfied_by(remembered.bookmark.as_deref()))
            .then(|| (remembered.image.clone(), remembered.bookmark.clone()))
    })
}
