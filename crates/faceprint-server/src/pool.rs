//! Inference off the async runtime, behind a bounded queue: a request that finds the queue full
//! is refused at once (429) instead of piling up, and health checks keep answering while every
//! pipeline is busy.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::ApiError;

/// Admits at most `capacity` inference jobs at once; each runs on tokio's blocking threads and
/// waits there for a free engine pipeline.
#[derive(Debug)]
pub struct InferencePool {
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl InferencePool {
    pub fn new(capacity: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// Jobs admitted and not finished.
    pub fn depth(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Runs `work` on a blocking thread if the queue has room, else `queue_full`. The permit is
    /// held until the work ends, even when the request gave up waiting (timeout), so the bound
    /// holds.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| ApiError::QueueFull)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("inference task failed: {e}")))
    }
}

/// Runs a quick blocking call (a gallery read or write) off the async threads.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))
}
