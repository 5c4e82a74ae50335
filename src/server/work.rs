//! CPU-bound work a request does (parsing a body, scoring customers with reasons): inline when
//! it is small, and otherwise on a blocking thread, at most one large batch per scoring thread,
//! so big batches never starve the async workers that answer health checks. Work on a blocking
//! thread stops at its next check once the request is abandoned (timed out, client gone); a
//! panic there is raised again in the request, where the catch-panic layer turns it into a 500.

use super::error::ApiError;
use super::state::AppState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bodies from this size are parsed and scored off the async workers.
pub const LARGE_BODY: usize = 64 * 1024;

/// Set when the request that started the work is gone.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Cancels when dropped: held by the request's future.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` inline when `large` is false, else on a blocking thread under a scoring permit.
pub async fn run<T, F>(st: &Arc<AppState>, large: bool, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> Result<T, ApiError> + Send + 'static,
{
    if !large {
        return f(&Cancel::default());
    }
    let permit =
        st.cpu.clone().acquire_owned().await.map_err(|_| ApiError::internal("the scoring threads are gone".into()))?;
    let cancel = Cancel::default();
    let _abandon = CancelOnDrop(cancel.clone());
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f(&cancel)
    })
    .await;
    match joined {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(ApiError::internal(format!("the scoring task failed: {e}"))),
    }
}

/// A test-only fault: `CHURN_FAULT_PANIC=always` (or `every:N`) makes scoring panic, to prove
/// that a panic costs one request and that readiness tells the truth.
#[cfg(feature = "fault-injection")]
pub fn injected_fault() {
    use std::sync::atomic::AtomicU64;
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let n = SEEN.fetch_add(1, Ordering::Relaxed) + 1;
    match std::env::var("CHURN_FAULT_PANIC").ok().as_deref() {
        Some("always") => panic!("injected fault (CHURN_FAULT_PANIC=always)"),
        Some(s) => {
            if let Some(every) = s.strip_prefix("every:").and_then(|v| v.parse::<u64>().ok()) {
                if every > 0 && n % every == 0 {
                    panic!("injected fault (CHURN_FAULT_PANIC={s})");
                }
            }
        }
        None => {}
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn injected_fault() {}
