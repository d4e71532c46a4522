//! SDK clients made on first use, not at cold start. Making a client builds
//! its HTTPS connector (the SDK loads and parses the TLS root certificates
//! then), so a queue, bucket, topic or IoT client that a function holds for
//! some routes only is made by the first call that needs it; a route that
//! never sends to it never pays for it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

type Make<C> = Box<dyn Fn(&SdkConfig) -> C + Send + Sync>;

/// An SDK client, made from `config` on first use and then shared by clones.
pub struct Lazy<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    /// `None` for a client given ready-made (tests, the local stack).
    make: Option<(SdkConfig, Make<C>)>,
    client: OnceLock<C>,
}

impl<C> Lazy<C> {
    /// A client `make` builds from `config` when first used.
    pub fn new(config: &SdkConfig, make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static) -> Self {
        Lazy {
            inner: Arc::new(Inner {
                make: Some((config.clone(), Box::new(make))),
                client: OnceLock::new(),
            }),
        }
    }

    /// A client already made.
    pub fn ready(client: C) -> Self {
        Lazy {
            inner: Arc::new(Inner {
                make: None,
                client: OnceLock::from(client),
            }),
        }
    }

    pub fn get(&self) -> &C {
        self.inner.client.get_or_init(|| {
            // A ready client's cell is set at construction: this closure
            // runs only for one built by `new`, which always has `make`.
            let (config, make) = self
                .inner
                .make
                .as_ref()
                .expect("a lazy client has its maker");
            make(config)
        })
    }

    /// Whether the client has been made (for tests).
    pub fn is_made(&self) -> bool {
        self.inner.client.get().is_some()
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Lazy {
            inner: self.inner.clone(),
        }
    }
}

impl<C> fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lazy")
            .field("made", &self.is_made())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_client_is_made_once_on_first_use_and_shared_by_clones() {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let config = SdkConfig::builder().build();
        let lazy = Lazy::new(&config, |_| MADE.fetch_add(1, Ordering::SeqCst) + 7);
        let copy = lazy.clone();
        assert_eq!(
            MADE.load(Ordering::SeqCst),
            0,
            "nothing made at construction"
        );
        assert!(!copy.is_made());
        assert_eq!(*lazy.get(), 7);
        assert_eq!(*copy.get(), 7);
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
        assert!(copy.is_made());
    }

    #[test]
    fn a_ready_client_is_used_as_given() {
        let lazy = Lazy::ready(42u8);
        assert!(lazy.is_made());
        assert_eq!(*lazy.get(), 42);
    }
}
