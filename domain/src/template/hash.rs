//! The digests of the `hash` filter (MD5, SHA-1, SHA-256, SHA-384, SHA-512), computed by the
//! RustCrypto crates and printed the way Selmer prints them. Not for security: mock output
//! only.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// An algorithm of the `hash` filter, by the name Selmer gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// `md5`.
    Md5,
    /// `sha`: SHA-1.
    Sha1,
    /// `sha256`.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl Algorithm {
    /// The algorithm called `name` in a template.
    ///
    /// # Errors
    /// A message naming the algorithms there are when `name` is none of them.
    pub(crate) fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "md5" => Ok(Self::Md5),
            "sha" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            other => Err(format!(
                "'{other}' is not a valid hash algorithm (md5, sha, sha256, sha384, sha512)"
            )),
        }
    }

    /// The digest of `message` in lower-case hexadecimal, two digits a byte.
    pub(crate) fn hex_digest(self, message: &[u8]) -> String {
        match self {
            Self::Md5 => format!("{:x}", Md5::digest(message)),
            Self::Sha1 => format!("{:x}", Sha1::digest(message)),
            Self::Sha256 => format!("{:x}", Sha256::digest(message)),
            Self::Sha384 => format!("{:x}", Sha384::digest(message)),
            Self::Sha512 => format!("{:x}", Sha512::digest(message)),
        }
    }

    /// The digest of `message` as the `hash` filter prints it (see [`selmer_hex`]).
    pub(crate) fn selmer_digest(self, message: &[u8]) -> String {
        selmer_hex(&self.hex_digest(message))
    }
}

/// Selmer prints digests with `(format "%032x" (BigInteger. 1 bytes))`: leading zeros
/// dropped, then padded to at least 32 digits.
fn selmer_hex(full: &str) -> String {
    let trimmed = full.trim_start_matches('0');
    format!("{trimmed:0>32}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_vectors() {
        let long = "a".repeat(200);
        let million = "a".repeat(1_000_000);
        let quick = "The quick brown fox jumps over the lazy dog";
        let two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let cases: [(Algorithm, &str, &str); 20] = [
            (Algorithm::Md5, "", "d41d8cd98f00b204e9800998ecf8427e"),
            (Algorithm::Md5, "abc", "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Md5, quick, "9e107d9d372bb6826bd81d3542a419d6"),
            (Algorithm::Md5, &long, "887f30b43b2867f4a9accceee7d16e6c"),
            (
                Algorithm::Sha1,
                "abc",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                Algorithm::Sha1,
                "",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ),
            (
                Algorithm::Sha1,
                two_blocks,
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            (
                Algorithm::Sha1,
                &million,
                "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
            ),
            (
                Algorithm::Sha256,
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha256,
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                Algorithm::Sha256,
                two_blocks,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                Algorithm::Sha256,
                &million,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
            (
                Algorithm::Sha384,
                "abc",
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                Algorithm::Sha384,
                "",
                "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
            ),
            (
                Algorithm::Sha384,
                &million,
                "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985",
            ),
            (
                Algorithm::Sha512,
                "abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                Algorithm::Sha512,
                "",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            ),
            (
                Algorithm::Sha512,
                &long,
                "4b11459c33f52a22ee8236782714c150a3b2c60994e9acee17fe68947a3e6789f31e7668394592da7bef827cddca88c4e6f86e4df7ed1ae6cba71f3e98faee9f",
            ),
            (
                Algorithm::Sha512,
                &million,
                "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
            ),
            (Algorithm::Md5, &million, "7707d6ae4e027c70eea2a935c2296f21"),
        ];
        for (algorithm, input, expected) in cases {
            assert_eq!(
                algorithm.hex_digest(input.as_bytes()),
                expected,
                "{algorithm:?}({:?}…)",
                input.get(..20).unwrap_or(input)
            );
        }
    }

    #[test]
    fn names_are_selmers() {
        let names = [
            ("md5", Algorithm::Md5),
            ("sha", Algorithm::Sha1),
            ("sha256", Algorithm::Sha256),
            ("sha384", Algorithm::Sha384),
            ("sha512", Algorithm::Sha512),
        ];
        for (name, algorithm) in names {
            assert_eq!(Algorithm::from_name(name), Ok(algorithm));
        }
        for refused in ["", "sha1", "SHA256", "md4", "crc"] {
            let message = Algorithm::from_name(refused).expect_err(refused);
            assert!(
                message.contains("is not a valid hash algorithm"),
                "{message}"
            );
        }
    }

    #[test]
    fn selmer_drops_leading_zeros_and_pads_to_32_digits() {
        // md5("27") starts with a zero digit, which Selmer drops; 31 digits pad back to 32.
        assert_eq!(
            Algorithm::Md5.hex_digest(b"27"),
            "02e74f10e0327ad868d138f2b4fdd6f0"
        );
        assert_eq!(
            Algorithm::Md5.selmer_digest(b"27"),
            "02e74f10e0327ad868d138f2b4fdd6f0"
        );
        assert_eq!(selmer_hex("00ab"), format!("{}ab", "0".repeat(30)));
        assert_eq!(selmer_hex(&"0".repeat(40)), "0".repeat(32));
        let sha1_zero = format!("00{}", "f".repeat(38));
        assert_eq!(selmer_hex(&sha1_zero), "f".repeat(38));
    }
}
