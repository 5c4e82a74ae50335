//! The server's JSON-lines log on stdout: one line per request (unless --quiet) plus start,
//! reload and shutdown events.
//!
//! Requests append their line to a shared buffer and return; a thread of its own writes the
//! buffer out, so a slow terminal or pipe never holds up a request. When stdout stops taking
//! lines altogether, the buffer stops growing at `MAX_PENDING` and further lines are counted,
//! not kept.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

const MAX_PENDING: usize = 8 << 20;

pub struct RequestLog {
    inner: Arc<Inner>,
}

struct Inner {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Held while writing to stdout, so the writer thread and `flush` keep lines in order.
    out: Mutex<Vec<u8>>,
    dropped: AtomicU64,
}

impl Inner {
    /// Moves what is pending to stdout; the caller has checked there is something.
    fn write_pending(&self) {
        let mut spare = self.out.lock().expect("log output lock");
        std::mem::swap(&mut *self.pending.lock().expect("log lock"), &mut *spare);
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&spare);
        let _ = stdout.flush();
        spare.clear();
    }
}

impl RequestLog {
    pub fn start() -> RequestLog {
        let inner = Arc::new(Inner {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            wake: Condvar::new(),
            out: Mutex::new(Vec::with_capacity(64 * 1024)),
            dropped: AtomicU64::new(0),
        });
        let writer = inner.clone();
        std::thread::Builder::new()
            .name("request-log".into())
            .spawn(move || loop {
                {
                    let pending = writer.pending.lock().expect("log lock");
                    drop(writer.wake.wait_while(pending, |p| p.is_empty()).expect("log lock"));
                }
                writer.write_pending();
            })
            .expect("the log thread starts");
        RequestLog { inner }
    }

    /// Appends one line, formatted in place under the lock (no allocation per line).
    pub fn write(&self, line: impl FnOnce(&mut Vec<u8>)) {
        let mut pending = self.inner.pending.lock().expect("log lock");
        if pending.len() >= MAX_PENDING {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = pending.is_empty();
        line(&mut pending);
        drop(pending);
        if was_empty {
            self.inner.wake.notify_one();
        }
    }

    /// A non-request event (start, reload, shutdown) as one JSON line.
    pub fn event(&self, event: &str, fields: &[(&str, &str)]) {
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), crate::tracking::iso_utc(crate::tracking::now_ms()).into());
        m.insert("event".into(), event.into());
        for (k, v) in fields {
            m.insert((*k).into(), (*v).into());
        }
        let dropped = self.inner.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            m.insert("log_lines_dropped".into(), dropped.into());
        }
        let s = serde_json::Value::Object(m).to_string();
        self.write(|buf| {
            buf.extend_from_slice(s.as_bytes());
            buf.push(b'\n');
        });
    }

    /// Writes out everything logged so far, before the process exits.
    pub fn flush(&self) {
        self.inner.write_pending();
    }
}

/// The current second as ISO 8601, formatted once per second per thread.
pub fn timestamp(out: &mut Vec<u8>) {
    thread_local! {
        static LAST: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = crate::tracking::now_ms() / 1000;
    LAST.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = crate::tracking::iso_utc(secs * 1000);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_stdout_caps_the_buffer_and_counts_what_is_dropped() {
        let log = RequestLog::start();
        // Hold the output side, as a blocked stdout would.
        let out = log.inner.out.lock().unwrap();
        let line = [b'x'; 1023];
        for _ in 0..(MAX_PENDING / 1024 + 100) {
            log.write(|b| {
                b.extend_from_slice(&line);
                b.push(b'\n');
            });
        }
        let pending = log.inner.pending.lock().unwrap().len();
        assert!(pending <= MAX_PENDING + 1024, "{pending} bytes pending");
        assert!(log.inner.dropped.load(Ordering::Relaxed) >= 90);
        drop(out);
    }

    #[test]
    fn timestamps_are_iso_seconds() {
        let mut b = Vec::new();
        timestamp(&mut b);
        let s = String::from_utf8(b).unwrap();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }
}
