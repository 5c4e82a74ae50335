//! `churn healthcheck`: the container's HEALTHCHECK (the runtime image has no curl).

use super::CliError;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The URL to check (default: GET / on this machine's $PORT).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    #[arg(long, default_value_t = 3)]
    pub timeout_seconds: u64,
}

pub fn run(a: Args) -> Result<(), CliError> {
    let url = a.url.unwrap_or_else(|| format!("http://127.0.0.1:{}/", a.port));
    let timeout = Duration::from_secs(a.timeout_seconds);
    let agent = crate::http_client::agent(timeout, timeout);
    match agent.get(&url).call() {
        Ok(r) if r.status().as_u16() == 200 => Ok(()),
        Ok(r) => Err(CliError::Usage(format!("{url} answered {}", r.status()))),
        Err(e) => Err(CliError::Usage(format!("{url}: {e}"))),
    }
}
