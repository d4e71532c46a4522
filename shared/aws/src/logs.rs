//! Structured JSON logs (SPEC §7): one line an event, which CloudWatch
//! metric filters read (an alert is a line with an `alert` field).

/// JSON logs to stdout; `RUST_LOG` sets the level, default info.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}
