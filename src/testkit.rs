//! The test kit: one seeded PRNG for every test, so a failing seed
//! reproduces the same run everywhere.
//!
//! Not part of the daemon: it is `#[doc(hidden)] pub` only so the
//! integration tests in `tests/` (which see the library as an outside
//! crate and cannot reach `cfg(test)` items) share the same code as the
//! unit tests instead of keeping their own copies. Nothing in the daemon
//! calls it, so the binary does not carry it.

/// xorshift64* (Vigna): small, fast, good enough for schedules and junk
/// inputs; seeded, so the same seed gives the same run every time.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        // One splitmix64 step spreads small seeds (1, 2, 3...) apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `0..n` as an index (`n` > 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// One random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_run_and_seeds_differ() {
        let run = |s| {
            let mut r = Rng::new(s);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(1), run(2));
        assert_ne!(run(0)[0], 0);
        let mut r = Rng::new(3);
        assert!((0..1000).all(|_| (5..=9).contains(&r.between(5, 9))));
    }
}
