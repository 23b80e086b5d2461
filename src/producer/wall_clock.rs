//! The wall clock in milliseconds since the epoch: a record's CreateTime, read once per `send`.
//!
//! `clock_gettime(CLOCK_REALTIME)` through the vDSO costs about 23 ns on a KVM guest (an ordered
//! `rdtsc`, a sequence lock and the conversion): a sixth of a `send`. Where the kernel itself
//! keeps time with the TSC (Linux on x86_64 with `tsc` as the current clocksource, and the CPU
//! says the TSC is invariant), each thread instead keeps an *anchor*, one (TSC, wall-clock ns)
//! pair, and extrapolates from it with one unordered `rdtsc` and a multiply. The anchor is
//! refreshed from `clock_gettime` whenever it is 2^22 ticks old (1.4 ms at 3 GHz) or the TSC
//! reads behind it, so a step of the system clock, or a TSC that a suspend or a paused VM left
//! behind the wall clock, reaches record timestamps within that many ticks; the refresh costs
//! three clock reads, a few per cent of one `send` amortised. The rate (ns per tick) is measured
//! against `CLOCK_MONOTONIC` (which NTP slews but never steps) from the first reading on, once
//! at least 50 ms have passed, and measured afresh when `CLOCK_BOOTTIME` shows the machine slept
//! in between (the TSC may or may not have run meanwhile). Until a rate is known, and everywhere
//! else, every call reads `clock_gettime`.
//!
//! Threads: any. The rate is one process-wide atomic; each thread's anchor is its own.

// Without the TSC clock only the tests use the extrapolation.
#![cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]

/// The wall clock in milliseconds since the epoch.
#[inline]
pub(crate) fn now_millis() -> i64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some(ns) = tsc::now_nanos() {
        return ns / 1_000_000;
    }
    realtime_nanos() / 1_000_000
}

/// `clock_gettime(clock)` in nanoseconds (`CLOCK_REALTIME`: since the epoch).
fn clock_nanos(clock: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, exclusively borrowed timespec.
    let ok = unsafe { libc::clock_gettime(clock, &mut ts) } == 0;
    #[allow(clippy::unnecessary_cast)] // time_t and c_long are 32 bits on some targets
    ok.then(|| ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64)
}

fn realtime_nanos() -> i64 {
    clock_nanos(libc::CLOCK_REALTIME).unwrap_or_else(|| {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
    })
}

/// Ticks an anchor serves for: 1.4 ms at 3 GHz. With the rate bounded by [`MAX_RATE`], a delta
/// below this times the rate fits in 64 bits.
const WINDOW: u64 = 1 << 22;

/// Measure the rate only over at least this many monotonic nanoseconds.
const MIN_BASELINE_NS: i64 = 50_000_000;

/// A reading the rate is measured from: TSC, `CLOCK_MONOTONIC` and the time the machine had
/// spent asleep (`CLOCK_BOOTTIME` minus `CLOCK_MONOTONIC`), all in ns but the TSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    tsc: u64,
    mono: i64,
    asleep: i64,
}

/// What a new reading does to the rate, given the reading the rate is measured from.
#[derive(Debug, PartialEq, Eq)]
enum Calibration {
    /// No origin yet, or the machine slept since it: `now` becomes the origin, no rate for now.
    Restart,
    /// Too soon after the origin to measure.
    Wait,
    Rate(u64),
    /// The TSC does not keep time here: stop using it.
    Implausible,
}

fn calibrate(origin: Option<Reading>, now: Reading) -> Calibration {
    // The two clocks are read one after the other: allow for that, not for a sleep.
    const SLEPT_NS: i64 = 1_000_000;
    match origin {
        Some(o) if (now.asleep - o.asleep).abs() < SLEPT_NS => {
            if now.mono - o.mono < MIN_BASELINE_NS {
                Calibration::Wait
            } else {
                rate_between((o.tsc, o.mono), (now.tsc, now.mono))
                    .map_or(Calibration::Implausible, Calibration::Rate)
            }
        }
        _ => Calibration::Restart,
    }
}

/// Rates are nanoseconds per tick in 32.32 fixed point; a TSC slower than 50 MHz or faster than
/// 20 GHz is taken for a mismeasurement and the clock falls back to `clock_gettime`.
const MIN_RATE: u64 = (1 << 32) / 20;
const MAX_RATE: u64 = 20 << 32;

/// The wall-clock nanoseconds at `tsc`, extrapolated from the anchor (`anchor_tsc`,
/// `anchor_ns`) at `rate` (32.32 ns per tick); `None` when the anchor does not serve `tsc` (older
/// than [`WINDOW`] ticks, or ahead of it).
#[inline]
fn extrapolate(anchor_tsc: u64, anchor_ns: i64, rate: u64, tsc: u64) -> Option<i64> {
    let delta = tsc.wrapping_sub(anchor_tsc);
    (delta < WINDOW).then(|| anchor_ns + ((delta * rate) >> 32) as i64)
}

/// The rate measured between two (tick, monotonic ns) readings, if it is plausible.
fn rate_between(from: (u64, i64), to: (u64, i64)) -> Option<u64> {
    let ticks = to.0.checked_sub(from.0).filter(|t| *t > 0)?;
    let nanos = u64::try_from(to.1 - from.1).ok()?;
    let rate = ((u128::from(nanos) << 32) / u128::from(ticks)) as u64;
    (MIN_RATE..=MAX_RATE).contains(&rate).then_some(rate)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use super::{calibrate, clock_nanos, extrapolate, realtime_nanos, Calibration, Reading};
    use parking_lot::Mutex;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

    /// 32.32 ns per tick; 0 until measured (or when the TSC is not used).
    static RATE: AtomicU64 = AtomicU64::new(0);
    /// 0: not checked yet; 1: the kernel keeps time with an invariant TSC; 2: it does not.
    static USABLE: AtomicU8 = AtomicU8::new(0);
    /// The reading the rate is measured from.
    static ORIGIN: Mutex<Option<Reading>> = Mutex::new(None);

    thread_local! {
        /// This thread's (tick, wall-clock ns) anchor, once it has one.
        static ANCHOR: Cell<Option<(u64, i64)>> = const { Cell::new(None) };
    }

    #[inline]
    #[allow(unused_unsafe)] // as `__cpuid` below
    fn rdtsc() -> u64 {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    pub(super) fn now_nanos() -> Option<i64> {
        let rate = RATE.load(Ordering::Relaxed);
        if rate != 0 {
            if let Some((tsc, ns)) = ANCHOR.with(Cell::get) {
                if let Some(ns) = extrapolate(tsc, ns, rate, rdtsc()) {
                    return Some(ns);
                }
            }
        }
        reanchor()
    }

    /// Reads the wall clock, makes that reading this thread's anchor and refines the rate.
    #[cold]
    fn reanchor() -> Option<i64> {
        if !usable() {
            return None;
        }
        let wall = realtime_nanos();
        let tsc = rdtsc();
        let mono = clock_nanos(libc::CLOCK_MONOTONIC)?;
        let boot = clock_nanos(libc::CLOCK_BOOTTIME)?;
        ANCHOR.with(|a| a.set(Some((tsc, wall))));
        let now = Reading { tsc, mono, asleep: boot - mono };
        let mut origin = ORIGIN.lock();
        match calibrate(*origin, now) {
            Calibration::Restart => {
                *origin = Some(now);
                RATE.store(0, Ordering::Relaxed);
            }
            Calibration::Wait => {}
            Calibration::Rate(rate) => RATE.store(rate, Ordering::Relaxed),
            Calibration::Implausible => {
                USABLE.store(2, Ordering::Relaxed);
                RATE.store(0, Ordering::Relaxed);
            }
        }
        Some(wall)
    }

    /// Whether a rate is measured (extrapolation in use); for tests.
    #[cfg(test)]
    pub(super) fn in_use() -> bool {
        usable() && RATE.load(Ordering::Relaxed) != 0
    }

    pub(super) fn usable() -> bool {
        match USABLE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let yes = kernel_uses_tsc() && invariant_tsc();
                USABLE.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// The kernel checks the TSC at boot (synchronised across CPUs, stable) and switches to
    /// another clocksource when it misbehaves; `tsc` here means it passed.
    fn kernel_uses_tsc() -> bool {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
    }

    /// CPUID 0x8000_0007, EDX bit 8: the TSC ticks at a constant rate in every power state.
    #[allow(unused_unsafe)] // `__cpuid` is a safe function from Rust 1.87 on; MSRV is 1.85
    fn invariant_tsc() -> bool {
        use core::arch::x86_64::__cpuid;
        // SAFETY: `cpuid` exists on every x86_64 CPU; leaf 0x8000_0000 gives the highest
        // extended leaf, so 0x8000_0007 is only asked for where it exists.
        unsafe { __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    fn system_millis() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[test]
    fn extrapolates_within_the_window_only() {
        let rate = 1 << 31; // 0.5 ns per tick
        assert_eq!(extrapolate(1_000, 5_000, rate, 1_000), Some(5_000));
        assert_eq!(extrapolate(1_000, 5_000, rate, 3_000), Some(6_000));
        assert_eq!(
            extrapolate(1_000, 5_000, rate, 1_000 + WINDOW - 1),
            Some(5_000 + (WINDOW as i64 - 1) / 2)
        );
        assert_eq!(extrapolate(1_000, 5_000, rate, 1_000 + WINDOW), None, "an anchor this old is refreshed");
        assert_eq!(extrapolate(1_000, 5_000, rate, 999), None, "a TSC behind the anchor is not trusted");
        // The largest delta at the largest rate does not overflow.
        assert!(extrapolate(0, 0, MAX_RATE, WINDOW - 1).is_some_and(|ns| ns > 0));
    }

    #[test]
    fn measures_plausible_rates_only() {
        // 3 GHz: a third of a nanosecond per tick.
        let rate = rate_between((0, 0), (3_000_000_000, 1_000_000_000)).unwrap();
        assert_eq!(rate, (1u64 << 32) / 3);
        assert_eq!(rate_between((10, 0), (10, 5)), None, "no ticks");
        assert_eq!(rate_between((10, 5), (20, 0)), None, "time going back");
        assert_eq!(rate_between((0, 0), (1_000, 1_000_000)), None, "1 MHz is no TSC");
        assert_eq!(rate_between((0, 0), (1_000_000, 1)), None, "nor is 1 THz");
    }

    #[test]
    fn calibrates_over_50_ms_and_afresh_after_a_sleep() {
        let at = |tsc, mono_ms: i64, asleep_ms: i64| Reading {
            tsc,
            mono: mono_ms * 1_000_000,
            asleep: asleep_ms * 1_000_000,
        };
        let origin = at(1_000, 10, 0);
        assert_eq!(calibrate(None, origin), Calibration::Restart, "the first reading is the origin");
        assert_eq!(calibrate(Some(origin), at(90_001_000, 40, 0)), Calibration::Wait, "30 ms is too short");
        // 3 GHz over 100 ms.
        assert_eq!(
            calibrate(Some(origin), at(300_001_000, 110, 0)),
            Calibration::Rate(rate_between((1_000, 10_000_000), (300_001_000, 110_000_000)).unwrap())
        );
        assert_eq!(
            calibrate(Some(origin), at(300_001_000, 110, 5_000)),
            Calibration::Restart,
            "the machine slept 5 s: the TSC may have run through it or not"
        );
        assert_eq!(
            calibrate(Some(origin), at(2_000, 110, 0)),
            Calibration::Implausible,
            "a TSC that barely moved"
        );
    }

    #[test]
    fn now_millis_is_the_wall_clock_in_milliseconds() {
        let before = system_millis();
        let ours = now_millis();
        let after = system_millis();
        assert!(before <= ours && ours <= after, "{before} <= {ours} <= {after}");
    }

    /// Long enough for the rate to be measured and anchors to be refreshed: every reading stays
    /// within a millisecond of `SystemTime` (the extrapolation may round across a millisecond).
    #[test]
    fn stays_on_the_wall_clock_across_anchors() {
        let start = Instant::now();
        let mut readings = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            let before = system_millis();
            let ours = now_millis();
            let after = system_millis();
            assert!(before - 1 <= ours && ours <= after + 1, "{before} <= {ours} <= {after}");
            readings += 1;
        }
        assert!(readings > 1_000, "{readings} readings");
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if tsc::usable() {
            assert!(tsc::in_use(), "the kernel keeps time with the TSC, but no rate was measured");
        }
    }
}
