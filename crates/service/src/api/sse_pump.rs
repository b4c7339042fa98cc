//! Hands a live stream's events to its client through a short queue, so that a client
//! that stops reading costs little and not for long. A task reads the events as they
//! happen (the session never waits for it: see `service::events`) and queues them for
//! the connection; when the connection takes nothing for [`STALLED`] with the queue full
//! (the socket's buffers are full too: the client stopped reading), the task lets go of
//! the stream, its subscription and its place among the key's open streams, and the
//! client, if it ever reads again, gets what was queued and then the given last event
//! saying why the stream ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;

/// Events queued for a connection that is not taking them.
const QUEUE: usize = 64;
/// How long a full queue waits for the connection before the stream is cut.
pub(crate) const STALLED: Duration = Duration::from_secs(15);

/// `events` through the queue; `cut` is the last event when the client stalled.
pub(crate) fn pump<T: Send + 'static>(
    mut events: BoxStream<'static, T>,
    cut: T,
) -> BoxStream<'static, T> {
    let (queue, queued) = mpsc::channel(QUEUE);
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                // The client went away: let go at once, not at the next event.
                () = queue.closed() => return,
                event = events.next() => event,
            };
            let Some(event) = event else { return };
            match tokio::time::timeout(STALLED, queue.send(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    flag.store(true, Ordering::Release);
                    tracing::info!("a live stream's client stopped reading; stream cut");
                    return;
                }
            }
        }
    });
    let queued = futures_util::stream::unfold(queued, |mut queued| async move {
        queued.recv().await.map(|event| (event, queued))
    });
    let last =
        futures_util::stream::once(async move { stalled.load(Ordering::Acquire).then_some(cut) })
            .filter_map(std::future::ready);
    queued.chain(last).boxed()
}

#[cfg(test)]
mod tests {
    use futures_util::Stream;

    use super::*;

    /// Set when the pump lets go of the source.
    struct Released(Arc<AtomicBool>);

    impl Drop for Released {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }

    fn watched(
        source: impl Stream<Item = i32> + Send + 'static,
    ) -> (BoxStream<'static, i32>, Arc<AtomicBool>) {
        let released = Arc::new(AtomicBool::new(false));
        let guard = Released(released.clone());
        let source = source.map(move |n| {
            let _held = &guard;
            n
        });
        (source.boxed(), released)
    }

    /// With time paused: a client that reads nothing keeps the stream for [`STALLED`]
    /// after its queue fills, then the source is let go (its permit comes back), and a
    /// client that reads again gets the queue and then the reason.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_cut_after_the_stall() {
        let (source, released) = watched(futures_util::stream::iter(0..1_000));
        let mut client = pump(source, -1);
        tokio::time::sleep(STALLED / 2).await;
        assert!(!released.load(Ordering::Acquire), "cut before the stall");
        tokio::time::sleep(STALLED).await;
        assert!(released.load(Ordering::Acquire), "not cut after the stall");
        let mut got = Vec::new();
        while let Some(n) = client.next().await {
            got.push(n);
        }
        let mut expected: Vec<i32> = (0..QUEUE as i32).collect();
        expected.push(-1);
        assert_eq!(got, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_gets_every_event_and_no_reason() {
        let source = futures_util::stream::iter(0..1_000).boxed();
        let got: Vec<i32> = pump(source, -1).collect().await;
        assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_leaves_releases_the_stream_before_its_next_event() {
        let (source, released) = watched(futures_util::stream::pending());
        drop(pump(source, -1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(released.load(Ordering::Acquire));
    }
}
