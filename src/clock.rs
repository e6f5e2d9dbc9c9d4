//! Time, in two kinds that must never be mixed up.
//!
//! * [`Mono`]: a monotonic instant in milliseconds, for protocol timers
//!   (VRRP Master_Down, DNS timeouts, log rate limits). It never jumps when
//!   NTP steps the wall clock, which matters on routers without an RTC that
//!   boot in 1970 (test checklist §31).
//! * [`UnixTime`]: wall-clock seconds since the Unix epoch, only for values
//!   that are stored or shown to people, such as lease expiry.
//!
//! Protocol cores never read a clock: their caller passes `now` (design §3).
//! Only drivers call [`Mono::now`] / [`UnixTime::now`]. [`Mono::now`] reads
//! tokio's clock, so a driver under `tokio::time::pause` runs on virtual
//! time in tests (the same instant as `std::time::Instant` otherwise).

use std::ops::{Add, Sub};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic instant, in milliseconds since an arbitrary process-wide base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mono(pub u64);

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(|| tokio::time::Instant::now().into_std())
}

impl Mono {
    /// The current monotonic time. Drivers only; cores take `now` as input.
    pub fn now() -> Mono {
        Mono::from_instant(tokio::time::Instant::now().into_std())
    }

    /// Converts a tokio/std instant to `Mono` (saturating at the base).
    pub fn from_instant(i: Instant) -> Mono {
        Mono(i.saturating_duration_since(base()).as_millis() as u64)
    }

    /// The std instant for this `Mono`, for `sleep_until` in drivers.
    pub fn to_instant(self) -> Instant {
        base() + Duration::from_millis(self.0)
    }

    /// Milliseconds since the base.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Mono) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Mono {
    type Output = Mono;
    fn add(self, d: Duration) -> Mono {
        Mono(self.0.saturating_add(d.as_millis() as u64))
    }
}

impl Sub<Mono> for Mono {
    type Output = Duration;
    fn sub(self, rhs: Mono) -> Duration {
        self.since(rhs)
    }
}

/// Sleeps until `at`, or forever for `None`: a driver's timer arm
/// (`select!` on `sleep_until(core.poll_timeout())`).
pub async fn sleep_until(at: Option<Mono>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.to_instant().into()).await,
        None => std::future::pending().await,
    }
}

/// Wall-clock seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The current wall-clock time. Drivers only.
    pub fn now() -> UnixTime {
        UnixTime::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> UnixTime {
        UnixTime(
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }
}

impl Add<Duration> for UnixTime {
    type Output = UnixTime;
    fn add(self, d: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(d.as_secs()))
    }
}

/// Formats a wall-clock time in milliseconds as RFC 3339 UTC
/// (`2026-11-27T17:45:00.123Z`), for log lines. Pure, so it is testable.
pub fn rfc3339_millis(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's public-domain `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drivers read `Mono::now`; under a paused tokio clock it moves only
    /// when the test moves it, so driver tests run on virtual time.
    #[tokio::test(start_paused = true)]
    async fn mono_follows_the_tokio_clock() {
        // Past the process-wide base first: another test thread may have
        // set it (on the real clock) after this runtime paused its own.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let a = Mono::now();
        tokio::time::advance(Duration::from_secs(3609)).await;
        assert_eq!(Mono::now().since(a), Duration::from_secs(3609));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(Mono::now().since(a), Duration::from_millis(3_609_250));
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        // 2026-11-27T17:45:00.123Z
        assert_eq!(
            rfc3339_millis(1_795_801_500_123),
            "2026-11-27T17:45:00.123Z"
        );
        // leap day
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn mono_arithmetic_saturates() {
        let a = Mono(1000);
        assert_eq!(a + Duration::from_millis(500), Mono(1500));
        assert_eq!(Mono(10) - Mono(20), Duration::ZERO);
        assert_eq!(Mono(20).since(Mono(10)), Duration::from_millis(10));
        assert_eq!(Mono(u64::MAX) + Duration::from_secs(1), Mono(u64::MAX));
    }

    #[test]
    fn mono_round_trips_through_instant() {
        let m = Mono::now() + Duration::from_millis(250);
        assert_eq!(Mono::from_instant(m.to_instant()), m);
    }
}
