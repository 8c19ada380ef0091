//! Tracing to stderr, filtered and formatted as the settings say (`RUST_LOG` overrides the filter).

use crate::settings::{LogFormat, Settings};

pub fn init_tracing(settings: &Settings) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
