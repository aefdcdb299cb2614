//! Why a detected format is unsafe to accept: the safety checks' failures
//! (Glance refuses the image whatever `disk_format` it was declared with).

/// A failed safety check; displayed after "Image data is `format` ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    /// qcow2: a backing file (the image would read another file).
    #[error("with a backing file")]
    BackingFile,
    /// qcow2: an external data file (feature bit or header extension).
    #[error("with an external data file")]
    DataFile,
    /// qcow2: incompatible feature bits this inspector does not know.
    #[error("with unknown incompatible features (bits {0:#x})")]
    UnknownFeatures(u64),
    /// A format version that is not supported.
    #[error("of unsupported version {0}")]
    Version(u32),
    /// vmdk: a create type other than monolithicSparse/streamOptimized.
    #[error("of unsupported VMDK create type \"{0}\"")]
    VmdkCreateType(String),
    /// vmdk: no descriptor could be read.
    #[error("without a readable descriptor")]
    VmdkNoDescriptor,
    /// vmdk: a descriptor line that is not understood.
    #[error("with a descriptor line that is not understood")]
    VmdkDescriptorLine,
    /// vmdk: an extent file name containing a path separator.
    #[error("with an extent file name containing a path separator")]
    VmdkExtentPath,
    /// vmdk: a descriptor naming no extent.
    #[error("with no extents")]
    VmdkNoExtents,
    /// vmdk: a descriptor file without the sparse header (its extents are
    /// other files).
    #[error("as a bare descriptor whose extents are other files")]
    VmdkDescriptorOnly,
    /// vmdk: the footer contradicts the header, or is not a footer.
    #[error("with a footer that {0}")]
    VmdkFooter(&'static str),
    /// vhd: a differencing disk (it reads a parent file).
    #[error("with a parent disk (a differencing VHD)")]
    VhdDifferencing,
    /// A format that is detected but never allowed (qed).
    #[error("(a format that is not allowed)")]
    Banned,
    /// A header that matches the format's magic but cannot be parsed.
    #[error("with a malformed header ({0})")]
    Malformed(&'static str),
    /// gpt/mbr: a partition table that fails the sanity checks.
    #[error("with an invalid partition table ({0})")]
    PartitionTable(&'static str),
}

#[cfg(test)]
mod tests {
    use super::Unsafe;
    use crate::domain::format::{Format, FormatRefusal};

    #[test]
    fn every_failure_reads_as_a_sentence() {
        let all = [
            (Unsafe::BackingFile, "qcow2 with a backing file"),
            (Unsafe::DataFile, "qcow2 with an external data file"),
            (Unsafe::UnknownFeatures(0x10), "qcow2 with unknown incompatible features (bits 0x10)"),
            (Unsafe::Version(1), "qcow2 of unsupported version 1"),
            (Unsafe::VmdkCreateType("vmfs".into()), "vmdk of unsupported VMDK create type \"vmfs\""),
            (Unsafe::VmdkNoDescriptor, "vmdk without a readable descriptor"),
            (Unsafe::VmdkDescriptorLine, "vmdk with a descriptor line that is not understood"),
            (Unsafe::VmdkExtentPath, "vmdk with an extent file name containing a path separator"),
            (Unsafe::VmdkNoExtents, "vmdk with no extents"),
            (Unsafe::VmdkDescriptorOnly, "vmdk as a bare descriptor whose extents are other files"),
            (Unsafe::VmdkFooter("is missing"), "vmdk with a footer that is missing"),
            (Unsafe::VhdDifferencing, "vhd with a parent disk (a differencing VHD)"),
            (Unsafe::Banned, "qed (a format that is not allowed)"),
            (Unsafe::Malformed("truncated header"), "luks with a malformed header (truncated header)"),
            (
                Unsafe::PartitionTable("no partition is defined"),
                "gpt with an invalid partition table (no partition is defined)",
            ),
        ];
        for (problem, words) in all {
            let format = match words.split(' ').next().unwrap() {
                "qcow2" => Format::Qcow2,
                "vmdk" => Format::Vmdk,
                "vhd" => Format::Vhd,
                "qed" => Format::Qed,
                "luks" => Format::Luks,
                _ => Format::Gpt,
            };
            let refusal = FormatRefusal::Unsafe { format, problem };
            assert_eq!(refusal.to_string(), format!("Image data is {words}: refused."));
        }
    }
}
