//! QED (QEMU enhanced disk; qemu's `docs/interop/qed_spec.txt`): detected
//! by its magic so it is never taken for raw, and always refused (oslo
//! bans it: nothing supports it and it cannot be checked).

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const MAGIC: &[u8; 4] = b"QED\0";

/// Detects qed (always unsafe); the size is the header's image size.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, 64)?;
    if !head.starts_with(MAGIC) {
        return Ok(None);
    }
    let size = (head.len() >= 56).then(|| field::u64_le(&head, 48));
    Ok(Some(Finding { virtual_size: size, ..Finding::unsafe_(Format::Qed, Unsafe::Banned) }))
}

#[cfg(test)]
mod tests {
    use crate::domain::format::{inspect_bytes, Format, Unsafe};

    #[test]
    fn qed_is_detected_and_banned() {
        let mut img = vec![0u8; 1024];
        img[..4].copy_from_slice(b"QED\0");
        img[48..56].copy_from_slice(&(1u64 << 30).to_le_bytes());
        let found = inspect_bytes(&img);
        assert_eq!(found.matches.len(), 1);
        let f = &found.matches[0];
        assert_eq!((f.format, f.virtual_size, f.problems.clone()), (Format::Qed, Some(1 << 30), vec![Unsafe::Banned]));
        assert_eq!(inspect_bytes(b"QED\0").matches[0].virtual_size, None);
    }
}
