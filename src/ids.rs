//! Identifiers and timestamps in the forms MLflow uses.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 32 lowercase hex digits, unique per call (time, process, a counter and ASLR, hashed).
pub fn random_hex32() -> String {
    let mut h = Sha256::new();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let local = 0u8;
    h.update((&local as *const u8 as usize).to_le_bytes());
    crate::table::hex(&h.finalize()[..16])
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as MLflow writes `utc_time_created`.
pub fn utc_string(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}", rem / 3600, rem % 3600 / 60, rem % 60, (ms % 1000) * 1000)
}

/// ISO 8601 (`2026-11-26T12:00:00Z`).
pub fn iso_utc(ms: u64) -> String {
    let s = utc_string(ms);
    format!("{}T{}Z", &s[..10], &s[11..19])
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(utc_string(0), "1970-01-01 00:00:00.000000");
        // 2026-11-26 07:18:35.675 UTC
        assert_eq!(utc_string(1_795_677_515_675), "2026-11-26 07:18:35.675000");
        assert_eq!(iso_utc(1_795_677_515_675), "2026-11-26T07:18:35Z");
    }

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = random_hex32();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, random_hex32());
    }
}
