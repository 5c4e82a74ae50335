//! Gives freed memory back to the operating system.
//!
//! XGBoost allocates its matrices and training buffers with the C allocator, much of it on
//! OpenMP's worker threads, whose per-thread arenas glibc does not shrink when they are freed:
//! after a fit on millions of rows the process kept about a hundred megabytes it no longer used,
//! which the next fit's peak then stood on. Training calls [`release`] after each fit.

/// Returns the free pages of every allocator arena to the system (glibc's `malloc_trim`); a no-op
/// elsewhere.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// A cap on the memory churn plans for (bytes, or with a K, M or G suffix), below what the
/// machine has: for a machine shared with other work.
pub const LIMIT_ENV: &str = "CHURN_MEMORY_LIMIT";

/// Bytes of memory this process may still take: the smallest of what the system has available,
/// what its control group (a container's limit) leaves, and `CHURN_MEMORY_LIMIT`; None when none
/// can be read.
pub fn available() -> Option<u64> {
    let system = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| meminfo_available(&m));
    let limit = std::env::var(LIMIT_ENV).ok().and_then(|v| parse_bytes(&v));
    [system, cgroup_room(), limit].into_iter().flatten().min()
}

/// "512M", "2G", "1048576" as bytes.
fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit.trim().to_ascii_uppercase().trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What the control group's memory limit leaves (cgroup v2, then v1); None without a limit.
fn cgroup_room() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|t| t.trim().parse::<u64>().ok());
    let (limit, used) = match read("/sys/fs/cgroup/memory.max") {
        Some(limit) => (limit, read("/sys/fs/cgroup/memory.current")?),
        None => {
            (read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?, read("/sys/fs/cgroup/memory/memory.usage_in_bytes")?)
        }
    };
    // cgroup v1 writes "no limit" as a number near 2^63.
    (limit < 1 << 60).then(|| limit.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    #[test]
    fn available_memory_is_read_from_meminfo() {
        let text = "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(super::meminfo_available(text), Some(20_000_000 * 1024));
        assert_eq!(super::meminfo_available("MemTotal: 5 kB\n"), None);
        assert!(super::available().is_some_and(|b| b > 0), "this machine says how much it has");
        assert_eq!(super::parse_bytes("512M"), Some(512 << 20));
        assert_eq!(super::parse_bytes("2G"), Some(2 << 30));
        assert_eq!(super::parse_bytes("100"), Some(100));
        assert_eq!(super::parse_bytes("lots"), None);
    }
}
