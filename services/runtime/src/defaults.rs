//! Typed defaults from embedded TOML, so a `Default` impl and the documented default are
//! one value.

use serde::de::DeserializeOwned;

/// This crate's defaults: the `[log]`, `[kafka]`, `[topics]`, `[shutdown]` and `[grpc]`
/// sections every service reads.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// Free-form tables of [`DEFAULTS`]: their keys are passed through, not checked.
pub const FREE_TABLES: &[&str] = &["kafka.properties"];

/// Section `name` of `doc`. `doc` is a compile-time constant checked by every crate's
/// tests, so failing here is a build defect, not bad input.
pub fn section_of<T: DeserializeOwned>(doc: &str, name: &str) -> T {
    let table: toml::Table = toml::from_str(doc).expect("embedded defaults parse");
    let value = table
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("embedded defaults have a [{name}] section"));
    value
        .try_into()
        .unwrap_or_else(|e| panic!("embedded [{name}] defaults: {e}"))
}

pub(crate) fn section<T: DeserializeOwned>(name: &str) -> T {
    section_of(DEFAULTS, name)
}
