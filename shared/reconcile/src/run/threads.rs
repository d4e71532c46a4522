//! The run's CPU-bound work off the async runtime: a blocking task per
//! phase, two threads within it.

use std::future::Future;

use super::error::ReconcileError;

/// Starts `work` on the blocking pool now; the future waits for it.
pub(super) fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, ReconcileError> + Send + 'static,
) -> impl Future<Output = Result<R, ReconcileError>> {
    let task = tokio::task::spawn_blocking(work);
    async move {
        task.await
            .map_err(|e| ReconcileError::Worker(e.to_string()))?
    }
}

/// Runs `work` on two threads, each with every other item (round robin);
/// their results in thread order.
pub(super) fn on_two_threads<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(usize, Vec<T>) -> Result<R, ReconcileError> + Sync,
) -> Result<Vec<R>, ReconcileError> {
    let mut halves: [Vec<T>; 2] = [Vec::new(), Vec::new()];
    for (i, item) in items.into_iter().enumerate() {
        halves[i % 2].push(item);
    }
    let work = &work;
    let results: Vec<Result<R, ReconcileError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = halves
            .into_iter()
            .enumerate()
            .map(|(t, mine)| scope.spawn(move || work(t, mine)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ReconcileError::Worker("a worker thread panicked".into()))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}
