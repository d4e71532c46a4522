//! Secret values (SPEC §7): keys, tokens and device secrets are held in a
//! `Secret<T>` whose `Debug` never shows them, so no log line or panic
//! message can leak one by accident.

use std::fmt;

/// A secret value whose `Debug` never shows it. Read it with `expose`, at
/// the one place it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("super-secret-value".to_owned());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "super-secret-value");
    }

    #[test]
    fn secrets_of_any_type_do_not_show_in_debug() {
        let key = Secret::new([7u8; 32]);
        assert_eq!(format!("{key:?}"), "Secret(***)");
        assert_eq!(key.expose(), &[7u8; 32]);
        #[derive(Debug)]
        struct Options {
            #[allow(dead_code)]
            token: Secret,
        }
        let options = Options {
            token: Secret::new("dev-token".into()),
        };
        assert!(!format!("{options:?}").contains("dev-token"));
    }
}
