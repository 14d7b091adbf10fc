//! Which shard of the mock tier serves a host.
//!
//! The mock servers can be split into `N` shards: a replica started as shard `K` of `N`
//! serves only the hosts [`shard_of`] puts on `K`, and the proxy in front sends every
//! request for a host to a replica of that host's shard. Both sides compute the shard with
//! this one function, so it must give the same answer in every process, on every platform,
//! in every release: it is defined below byte for byte, on XXH3 (a fixed, published hash),
//! never on std's `DefaultHasher`, whose algorithm may change between Rust releases.
//!
//! The choice is rendezvous (highest-random-weight) hashing: each shard `k` scores the host
//! with a hash of (host, `k`), and the highest score wins. Every shard wins about `1/N` of
//! the hosts, and going from `N` to `N + 1` shards moves only the hosts the new shard wins
//! (about `1/(N + 1)` of them); no host moves between two shards that were already there.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The seed of both hashes in [`shard_of`]: the ASCII bytes of `moclojer`. Changing it
/// would move almost every host to another shard: never change it.
const SEED: u64 = 0x6d6f_636c_6f6a_6572;

/// One shard of the mock tier, `K/N`: shard `index` of `count`, numbered from 0.
///
/// Always valid: `count` is at least 1 and `index` is below it. [`Shard::ALL`] (`0/1`) is
/// the unsharded tier, holding every host.
///
/// ```
/// use moclojer_domain::Shard;
///
/// let shard: Shard = "1/4".parse()?;
/// assert_eq!((shard.index(), shard.count()), (1, 4));
/// assert_eq!(shard.to_string(), "1/4");
/// assert!("4/4".parse::<Shard>().is_err());
/// assert!(Shard::ALL.holds("shop-alice.moclojer.com"));
/// # Ok::<(), moclojer_domain::ShardError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a shard could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not shaped `K/N` with two decimal numbers.
    #[error("`{0}` is not a shard: write K/N, shard K of N numbered from 0, such as 0/4")]
    Malformed(String),
    /// `N` is 0.
    #[error("a shard count must be at least 1 (shard 0/1 is the unsharded tier)")]
    NoShards,
    /// `K` is not below `N`.
    #[error("there is no shard {index}/{count}: the shards of {count} are 0 to {}", .count - 1)]
    OutOfRange {
        /// The `K` asked for.
        index: u32,
        /// The `N` asked for.
        count: u32,
    },
}

impl Shard {
    /// The unsharded tier, `0/1`: one shard that holds every host.
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// The unsharded tier, [`Shard::ALL`].
    pub const fn single() -> Self {
        Self::ALL
    }

    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`ShardError::NoShards`] when `count` is 0; [`ShardError::OutOfRange`] when `index`
    /// is not below `count`.
    pub const fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// `K`: which shard this is, from 0 to [`Shard::count`] − 1.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// `N`: how many shards the tier has.
    pub const fn count(self) -> u32 {
        self.count
    }

    /// Whether this shard serves `host`: [`shard_of`]`(host, N) == K`.
    pub fn holds(&self, host: &str) -> bool {
        shard_of(host, self.count) == self.index
    }
}

impl Default for Shard {
    /// [`Shard::ALL`].
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Reads `K/N` (surrounding spaces allowed), two decimal numbers.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let malformed = || ShardError::Malformed(raw.to_owned());
        let (index, count) = raw.trim().split_once('/').ok_or_else(malformed)?;
        let number = |digits: &str| {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u32>().ok()
        };
        match (number(index), number(count)) {
            (Some(index), Some(count)) => Self::new(index, count),
            _ => Err(malformed()),
        }
    }
}

/// The shard, from 0 to `count` − 1, whose mock servers serve `host` when the tier has
/// `count` shards; 0 when `count` is 0 or 1.
///
/// `host` is a host name alone, without a port (a [`Host`](crate::Host)'s
/// [`as_str`](crate::Host::as_str)). Names are compared as DNS compares them: in ASCII
/// lower case, and one trailing dot makes no difference (`Shop-Alice.Example.com.` is on the
/// shard of `shop-alice.example.com`). A name already in lower case is hashed in place,
/// without allocating.
///
/// The definition, which must never change (a test pins known results):
///
/// 1. `name` = `host` without one trailing `.`, in ASCII lower case;
/// 2. `key` = XXH3-64 of `name`'s bytes, with seed `0x6d6f636c6f6a6572`;
/// 3. the score of shard `k` = XXH3-64 of the 12 bytes `key` (little-endian) followed by
///    `k` (as a `u32`, little-endian), with the same seed;
/// 4. the shard is the `k` in `0..count` with the highest score (the lowest such `k` on a
///    tie).
///
/// It costs one hash of the name and one 12-byte hash per shard.
pub fn shard_of(host: &str, count: u32) -> u32 {
    if count <= 1 {
        return 0;
    }
    let key = host_key(host);
    let mut best = (0, score(key, 0));
    for shard in 1..count {
        let score = score(key, shard);
        if score > best.1 {
            best = (shard, score);
        }
    }
    best.0
}

/// Step 2 of [`shard_of`]: the hash of the host's name, lower case, without a trailing dot.
fn host_key(host: &str) -> u64 {
    let host = host.strip_suffix('.').unwrap_or(host);
    let name: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    xxh3_64_with_seed(name.as_bytes(), SEED)
}

/// Step 3 of [`shard_of`]: shard `shard`'s score for the host whose key is `key`.
fn score(key: u64, shard: u32) -> u64 {
    let mut input = [0u8; 12];
    let (key_bytes, shard_bytes) = input.split_at_mut(8);
    key_bytes.copy_from_slice(&key.to_le_bytes());
    shard_bytes.copy_from_slice(&shard.to_le_bytes());
    xxh3_64_with_seed(&input, SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` synthetic hosts shaped like the real ones.
    fn hosts(count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("mock{i}-user{}.moclojer.com", i % 97))
            .collect()
    }

    #[test]
    fn shards_parse_as_k_of_n_and_print_back() {
        for (raw, index, count) in [
            ("0/1", 0, 1),
            ("3/4", 3, 4),
            (" 2/3 ", 2, 3),
            ("0/4096", 0, 4096),
        ] {
            let shard: Shard = raw.parse().unwrap();
            assert_eq!((shard.index(), shard.count()), (index, count), "{raw}");
            assert_eq!(shard.to_string(), raw.trim());
        }
        assert_eq!(Shard::ALL, Shard::single());
        assert_eq!(Shard::ALL, Shard::default());
        assert_eq!(Shard::ALL.to_string(), "0/1");
    }

    #[test]
    fn shards_that_do_not_exist_or_do_not_parse_are_refused_clearly() {
        assert_eq!(
            "3/2".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 3, count: 2 })
        );
        assert_eq!(
            "2/2".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 2, count: 2 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::NoShards));
        assert_eq!(
            "3/2".parse::<Shard>().unwrap_err().to_string(),
            "there is no shard 3/2: the shards of 2 are 0 to 1"
        );
        for raw in [
            "a/b",
            "",
            "1",
            "/2",
            "1/",
            "1/2/3",
            "-1/2",
            "+1/2",
            "1 /2",
            "0x1/2",
            "1/99999999999",
        ] {
            assert_eq!(
                raw.parse::<Shard>(),
                Err(ShardError::Malformed(raw.to_owned())),
                "{raw}"
            );
        }
        assert!(
            "a/b"
                .parse::<Shard>()
                .unwrap_err()
                .to_string()
                .contains("write K/N")
        );
        assert_eq!(Shard::new(1, 0), Err(ShardError::NoShards));
    }

    #[test]
    fn the_hash_is_the_standard_xxh3() {
        // The reference implementation's XXH3_64bits of nothing, seed 0.
        assert_eq!(xxh3_64_with_seed(b"", 0), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn known_hosts_stay_on_their_shards() {
        // If one of these fails, the algorithm changed: every running replica and proxy
        // would disagree on where hosts live. Never update these numbers.
        // Computed independently with the reference C library (libxxhash's
        // XXH3_64bits_withSeed) following the steps in `shard_of`'s documentation.
        let pinned: [(&str, [u32; 4]); 7] = [
            ("shop-alice.moclojer.com", [1, 1, 1, 7]),
            ("hello-alice.moclojer.com", [0, 0, 3, 15]),
            ("payments-carol.moclojer.com", [1, 1, 3, 5]),
            ("hello-alice.localhost", [0, 0, 0, 5]),
            ("blog-alice.moclojer.com", [1, 2, 2, 9]),
            ("blog-bob.moclojer.com", [0, 2, 3, 6]),
            ("blog-carol.moclojer.com", [0, 2, 2, 2]),
        ];
        let counts = [2, 3, 4, 16];
        for (host, expected) in pinned {
            let actual = counts.map(|count| shard_of(host, count));
            assert_eq!(actual, expected, "{host} over {counts:?} shards");
        }
    }

    #[test]
    fn one_shard_or_none_holds_everything() {
        for host in ["shop-alice.moclojer.com", "", "."] {
            assert_eq!(shard_of(host, 0), 0);
            assert_eq!(shard_of(host, 1), 0);
            assert!(Shard::ALL.holds(host));
        }
    }

    #[test]
    fn hosts_spread_evenly_over_the_shards() {
        let mut per_shard = [0usize; 4];
        for host in hosts(10_000) {
            per_shard[shard_of(&host, 4) as usize] += 1;
        }
        for (shard, held) in per_shard.iter().enumerate() {
            assert!(
                (2_250..=2_750).contains(held),
                "shard {shard} holds {held} of 10,000: {per_shard:?}"
            );
        }
    }

    #[test]
    fn a_new_shard_takes_its_share_and_no_other_host_moves() {
        let hosts = hosts(10_000);
        for count in 1..=8u32 {
            let mut moved = 0usize;
            for host in &hosts {
                let (before, after) = (shard_of(host, count), shard_of(host, count + 1));
                if before != after {
                    assert_eq!(after, count, "{host} moved from {before} to {after}");
                    moved += 1;
                }
            }
            let share = hosts.len() as f64 / f64::from(count + 1);
            assert!(
                (moved as f64 - share).abs() <= share * 0.15,
                "{count} → {} shards moved {moved} hosts, about {share:.0} expected",
                count + 1
            );
        }
    }

    #[test]
    fn host_names_are_compared_in_lower_case_and_without_a_trailing_dot() {
        for count in 2..=10 {
            let canonical = shard_of("shop-alice.moclojer.com", count);
            for variant in [
                "Shop-Alice.Moclojer.COM",
                "SHOP-ALICE.MOCLOJER.COM",
                "shop-alice.moclojer.com.",
                "Shop-Alice.moclojer.com.",
            ] {
                assert_eq!(shard_of(variant, count), canonical, "{variant}, {count}");
            }
        }
    }

    #[test]
    fn exactly_one_shard_holds_each_host() {
        for host in hosts(200) {
            for count in 1..=6 {
                let holders = (0..count)
                    .filter(|&index| Shard::new(index, count).unwrap().holds(&host))
                    .count();
                assert_eq!(holders, 1, "{host} over {count}");
            }
        }
    }
}
