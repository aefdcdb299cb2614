//! The luks parser alone over arbitrary bytes, then every decision.
#![no_main]

use edge_glance::domain::format::{inspect_bytes_as, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let found = inspect_bytes_as(data, Format::Luks);
    edge_glance_fuzz::decide_all(&found, data.len() as u64);
});
