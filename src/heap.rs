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
