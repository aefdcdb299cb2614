//! Digest algorithms: the ones Glance names (`os_hash_algo`, a location's
//! `hashing_algorithm`) and tus's `Upload-Checksum` accepts, with the name
//! the runtime's `crypto.DigestStream` knows each by.

/// A digest algorithm (Glance's `hashing_algorithm` choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `md5`
    Md5,
    /// `sha1`
    Sha1,
    /// `sha256`
    Sha256,
    /// `sha512` (Glance's default)
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm.
    pub const ALL: [HashAlgorithm; 4] =
        [HashAlgorithm::Md5, HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha512];

    /// Glance's name (`os_hash_algo`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm Glance calls `name`.
    pub fn parse(name: &str) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The length of its hex digests.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 32,
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha512 => 128,
        }
    }

    /// The runtime's name (`crypto.DigestStream`).
    pub fn runtime_name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::HASH_ALGO;

    #[test]
    fn hash_algorithms_have_glances_and_the_runtimes_names() {
        for algorithm in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::parse(algorithm.as_str()), Some(algorithm));
        }
        assert_eq!(HashAlgorithm::ALL.map(HashAlgorithm::runtime_name), ["MD5", "SHA-1", "SHA-256", "SHA-512"]);
        assert_eq!(HashAlgorithm::ALL.map(HashAlgorithm::hex_len), [32, 40, 64, 128]);
        assert_eq!(HashAlgorithm::parse("sha3"), None);
        assert_eq!(HashAlgorithm::parse(HASH_ALGO), Some(HashAlgorithm::Sha512));
    }
}
