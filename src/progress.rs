//! Progress reporting, kept apart from the work: domain code reports stages and steps, the CLI
//! draws bars (on a terminal only), everything else stays silent.

pub trait Progress: Sync {
    /// A new stage with `total` steps (0 when unknown).
    fn stage(&self, name: &str, total: u64);
    fn advance(&self, steps: u64);
    fn finish(&self);
    /// A decision the user should hear of (e.g. external memory chosen for a large table).
    fn note(&self, _message: &str) {}
}

pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// The one progress bar: indicatif on stderr, hidden automatically when stderr is not a
/// terminal. Stages of work (`Progress`), or a count of rows (`rows`).
pub struct Bar {
    bar: indicatif::ProgressBar,
}

fn style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Bar {
    pub fn new() -> Bar {
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
        Bar { bar }
    }

    /// A bar counting rows, of a known total or not.
    pub fn rows(name: &str, total: Option<u64>) -> Bar {
        let bar = indicatif::ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(match total {
            Some(_) => style("{prefix:>12} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}"),
            None => style("{prefix:>12} {human_pos} rows {per_sec} {elapsed}"),
        });
        bar.set_prefix(name.to_string());
        Bar { bar }
    }

    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.bar.set_style(style("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}"));
        self.bar.set_prefix(name.to_string());
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.reset_eta();
    }
    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn note(&self, message: &str) {
        if self.bar.is_hidden() {
            eprintln!("note: {message}");
        } else {
            self.bar.println(format!("note: {message}"));
        }
    }
}
