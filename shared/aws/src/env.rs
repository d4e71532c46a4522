//! Settings from the environment: required values, and values that may be
//! rotating (current and previous; the stage's secrets come through
//! [`crate::secrets::SecretSource`]).

/// A required environment variable, or a message naming it.
pub fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

/// A value and, during a rotation, the previous one: `{name}` and
/// `{name}_PREVIOUS`, current first; empty counts as unset. `env` reads one
/// variable (the process environment in Lambda, a map in tests).
pub fn current_and_previous(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    [name.to_owned(), format!("{name}_PREVIOUS")]
        .iter()
        .filter_map(|n| env(n).filter(|v| !v.is_empty()))
        .collect()
}
