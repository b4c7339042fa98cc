//! The shared engine: a fixed set of decode threads behind a priority queue. Final
//! decodes (a complete utterance whose message waits on it) come before speculative ones
//! (the utterance so far, decoded while the speaker may still be talking), and among
//! equals the earliest submitted first (every final has the same latency budget, so this
//! is earliest deadline first). Callers of a final decode await a queue slot, so a burst
//! of utterances waits its turn (and shows up in the queue metrics) instead of
//! oversubscribing the CPU. Speculative work is dropped first under load: it gets no slot
//! when the few reserved for it are taken, and is discarded unstarted once it has waited
//! longer than it could still be useful. Each thread owns its decoders, one per engine it
//! has been asked for (the default engine's made at start); nothing of whisper.cpp or
//! ONNX Runtime crosses threads.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::engines::Engines;
use super::language::Route;
use super::{Decoder, EngineError, Transcript};
use crate::config::EngineModel;
use crate::metrics::EngineMetrics;

/// A decode's result and what it cost.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub transcript: Transcript,
    /// From submission to a decode thread taking it.
    pub waited: Duration,
    pub decode: Duration,
}

/// How soon a decode is needed; the pool serves the most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// A complete utterance: its message waits on it.
    Final,
    /// The utterance as it stands at a pause that may be its end: if it is, this
    /// decode is the final one.
    Tentative,
    /// A partial hypothesis of speech still in progress.
    Partial,
}

impl Urgency {
    fn as_str(self) -> &'static str {
        match self {
            Urgency::Final => "final",
            Urgency::Tentative => "tentative",
            Urgency::Partial => "partial",
        }
    }
}

/// A speculative decode that waited this long unstarted is dropped: by then the
/// speaker has moved on (a newer partial) or the endpoint has come (the final decode).
const SPECULATION_MAX_WAIT: Duration = Duration::from_millis(300);

struct Job {
    audio: Vec<f32>,
    model: EngineModel,
    language: &'static str,
    urgency: Urgency,
    submitted: Instant,
    reply: oneshot::Sender<Result<Option<Decoded>, EngineError>>,
    /// Holds the caller's queue slot until the decode is done.
    _slot: OwnedSemaphorePermit,
}

/// A job in the queue, ordered by urgency, then submission.
struct Queued {
    seq: u64,
    job: Job,
}

impl Queued {
    fn key(&self) -> (Urgency, Instant, u64) {
        (self.job.urgency, self.job.submitted, self.seq)
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[derive(Default)]
struct QueueState {
    heap: BinaryHeap<Reverse<Queued>>,
    submitted: u64,
    closed: bool,
}

/// The jobs waiting for a decode thread, most urgent first.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job`; gives it back if the pool is shutting down.
    fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.submitted += 1;
        let seq = state.submitted;
        state.heap.push(Reverse(Queued { seq, job }));
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The most urgent job; `None` once the pool is closed and drained.
    fn pop(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(Reverse(queued)) = state.heap.pop() {
                return Some(queued.job);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        drop(state);
        self.ready.notify_all();
    }

    /// Closes the queue and drops the jobs still waiting (nobody is left to take their
    /// answers when the pool itself is dropped).
    fn close_and_discard(&self) {
        self.lock().heap.clear();
        self.close();
    }
}

pub struct EnginePool {
    queue: Arc<Queue>,
    /// Final decodes queued or running.
    slots: Arc<Semaphore>,
    /// Speculative decodes queued or running: two per decode thread, so speculation
    /// never fills the queue.
    speculative_slots: Arc<Semaphore>,
    engines: Arc<Engines>,
    metrics: EngineMetrics,
    workers: usize,
    /// Joined when the pool is dropped (see its `Drop`).
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Decode threads for a machine: one per core, each decoding with one thread, which
/// measured faster in total than fewer threads with more cores each and degrades
/// gracefully under contention.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl EnginePool {
    /// Starts `workers` decode threads (0 = one per core) with room for `queue`
    /// waiting utterances. Fails if a decoder of the default engine cannot be created.
    pub fn start(
        engines: Arc<Engines>,
        workers: usize,
        queue: usize,
        metrics: EngineMetrics,
    ) -> Result<EnginePool, EngineError> {
        let workers = if workers == 0 {
            default_workers()
        } else {
            workers
        };
        let jobs = Arc::new(Queue::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let default = engines.default_model();
        // Decoders are made one at a time: loading folds Moonshine's weights through
        // temporaries, and two session pairs opened at once measured ~340 MB more peak RSS
        // (in Python, with the same runtime and settings).
        let opening = Arc::new(Mutex::new(()));
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let opening = opening.clone();
            let engines = engines.clone();
            let jobs = jobs.clone();
            let ready = ready_tx.clone();
            let metrics = metrics.clone();
            let thread = std::thread::Builder::new()
                .name(format!("decode-{i}"))
                .spawn(move || {
                    let mut decoders = HashMap::new();
                    let made = one_at_a_time(&opening, || {
                        decoder_for(&mut decoders, &engines, default).map(drop)
                    });
                    match made {
                        Ok(()) => {
                            let _ = ready.send(Ok(()));
                            drop(ready);
                            work(decoders, &engines, &jobs, &metrics);
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                })
                .map_err(|e| EngineError::Model(format!("cannot start a decode thread: {e}")))?;
            threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..workers {
            if let Err(e) = ready_rx.recv().map_err(|_| EngineError::Stopped)? {
                jobs.close();
                threads.into_iter().for_each(|t| drop(t.join()));
                return Err(e);
            }
        }
        Ok(EnginePool {
            queue: jobs,
            slots: Arc::new(Semaphore::new(workers + queue.max(1))),
            speculative_slots: Arc::new(Semaphore::new(2 * workers)),
            engines,
            metrics,
            workers,
            threads,
        })
    }

    /// Decodes one complete utterance (16 kHz f32) as `route` says, waiting for its
    /// engine to be loaded (the first use of a lazily loaded model) and for a queue slot
    /// first.
    pub async fn transcribe(&self, audio: Vec<f32>, route: Route) -> Result<Decoded, EngineError> {
        let model = self.engines.model(route);
        self.engines.ready(model).await?;
        let submitted = Instant::now();
        self.metrics.queue_depth.inc();
        let slot = self.slots.clone().acquire_owned().await;
        let Ok(slot) = slot else {
            self.metrics.queue_depth.dec();
            return Err(EngineError::Stopped);
        };
        let answer = self.submit(audio, model, route, Urgency::Final, submitted, slot)?;
        answer
            .await
            .map_err(|_| EngineError::Stopped)??
            .ok_or(EngineError::Stopped)
    }

    /// Decodes the utterance so far, if the pool has room for speculation: `None` when
    /// it had none, or the decode waited too long to be of use.
    pub async fn speculate(
        &self,
        audio: Vec<f32>,
        route: Route,
        urgency: Urgency,
    ) -> Result<Option<Decoded>, EngineError> {
        let model = self.engines.model(route);
        let dropped = || {
            self.metrics
                .speculations
                .with_label_values(&[urgency.as_str(), "dropped"])
                .inc();
            Ok(None)
        };
        if self.engines.loaded(model).is_none() {
            return dropped();
        }
        let Ok(slot) = self.speculative_slots.clone().try_acquire_owned() else {
            return dropped();
        };
        self.metrics.queue_depth.inc();
        let answer = self.submit(audio, model, route, urgency, Instant::now(), slot)?;
        match answer.await.map_err(|_| EngineError::Stopped)?? {
            Some(decoded) => {
                self.metrics
                    .speculations
                    .with_label_values(&[urgency.as_str(), "decoded"])
                    .inc();
                Ok(Some(decoded))
            }
            None => dropped(),
        }
    }

    fn submit(
        &self,
        audio: Vec<f32>,
        model: EngineModel,
        route: Route,
        urgency: Urgency,
        submitted: Instant,
        slot: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<Result<Option<Decoded>, EngineError>>, EngineError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            audio,
            model,
            language: route.language,
            urgency,
            submitted,
            reply,
            _slot: slot,
        };
        if self.queue.push(job).is_err() {
            self.metrics.queue_depth.dec();
            return Err(EngineError::Stopped);
        }
        Ok(answer)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Starts loading `model` in the background (fetching it if needed), so the first
    /// conversation that needs it does not wait; failures are logged and retried on use.
    pub fn preload(&self, model: EngineModel) {
        let engines = self.engines.clone();
        tokio::spawn(async move {
            if let Err(e) = engines.ready(model).await {
                tracing::warn!(model = model.as_str(), error = %e, "speech model not loaded");
            }
        });
    }

    /// The default engine, for logs and tools.
    pub fn describe(&self) -> String {
        self.engines.describe()
    }
}

/// Waits for the decode threads to finish their current decode and release their
/// decoders. Without the wait, a process that exits right after dropping the pool (a
/// test, the demo) tears ONNX Runtime's globals down while a thread still decodes or
/// releases a session, which crashed such processes at exit now and then (SIGSEGV).
impl Drop for EnginePool {
    fn drop(&mut self) {
        self.queue.close_and_discard();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn work(
    mut decoders: HashMap<EngineModel, Box<dyn Decoder>>,
    engines: &Engines,
    jobs: &Queue,
    metrics: &EngineMetrics,
) {
    while let Some(job) = jobs.pop() {
        metrics.queue_depth.dec();
        let waited = job.submitted.elapsed();
        if job.urgency == Urgency::Final {
            metrics.wait_seconds.observe(waited.as_secs_f64());
        } else if waited > SPECULATION_MAX_WAIT || job.reply.is_closed() {
            // Too late to be of use, or nobody waits for it any more.
            let _ = job.reply.send(Ok(None));
            continue;
        }
        let started = Instant::now();
        let result = decoder_for(&mut decoders, engines, job.model)
            .and_then(|decoder| decoder.transcribe(&job.audio, job.language));
        let decode = started.elapsed();
        metrics.decode_seconds.observe(decode.as_secs_f64());
        metrics
            .decodes
            .with_label_values(&[job.model.as_str()])
            .inc();
        if result.as_ref().is_ok_and(|t| t.fallback) {
            metrics.fallbacks.inc();
        }
        let _ = job.reply.send(result.map(|transcript| {
            Some(Decoded {
                transcript,
                waited,
                decode,
            })
        }));
    }
}

fn one_at_a_time<T>(lock: &Mutex<()>, make: impl FnOnce() -> T) -> T {
    let _turn = lock.lock().unwrap_or_else(|e| e.into_inner());
    make()
}

/// This thread's decoder for `model`, made on its first use (the pool loaded the engine
/// before queueing the job).
fn decoder_for<'d>(
    decoders: &'d mut HashMap<EngineModel, Box<dyn Decoder>>,
    engines: &Engines,
    model: EngineModel,
) -> Result<&'d mut Box<dyn Decoder>, EngineError> {
    use std::collections::hash_map::Entry;
    match decoders.entry(model) {
        Entry::Occupied(decoder) => Ok(decoder.into_mut()),
        Entry::Vacant(slot) => {
            let engine = engines
                .loaded(model)
                .ok_or_else(|| EngineError::Model(format!("{} is not loaded", model.as_str())))?;
            Ok(slot.insert(engine.decoder()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::transcribe::Engine;

    /// Counts how many decodes run at once; "decodes" by sleeping.
    struct Sleepy {
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    impl Engine for Sleepy {
        fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
            Ok(Box::new(SleepyDecoder {
                running: self.running.clone(),
                peak: self.peak.clone(),
            }))
        }
        fn describe(&self) -> String {
            "sleepy".into()
        }
    }

    struct SleepyDecoder {
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    }

    impl Decoder for SleepyDecoder {
        fn transcribe(
            &mut self,
            audio: &[f32],
            _language: &str,
        ) -> Result<Transcript, EngineError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Transcript {
                text: audio.len().to_string(),
                ..Transcript::default()
            })
        }
    }

    #[tokio::test]
    async fn never_runs_more_decodes_than_workers_and_answers_each_caller() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let engine = Arc::new(Sleepy {
            running: running.clone(),
            peak: peak.clone(),
        });
        let metrics = crate::metrics::Metrics::new().engine;
        let engines = Arc::new(Engines::fixed(engine));
        let pool = Arc::new(EnginePool::start(engines, 2, 3, metrics.clone()).unwrap());
        let calls: Vec<_> = (1..=12)
            .map(|n| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.transcribe(vec![0.0; n], Route::DEFAULT).await })
            })
            .collect();
        for (n, call) in (1..=12).zip(calls) {
            let decoded = call.await.unwrap().unwrap();
            assert_eq!(decoded.transcript.text, n.to_string());
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(metrics.queue_depth.get(), 0);
        assert_eq!(metrics.decode_seconds.get_sample_count(), 12);
    }

    /// Decodes by sleeping `audio.len()` milliseconds and records the order.
    struct Recording(Arc<Mutex<Vec<usize>>>);

    impl Engine for Recording {
        fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
            Ok(Box::new(Recording(self.0.clone())))
        }
        fn describe(&self) -> String {
            "recording".into()
        }
    }

    impl Decoder for Recording {
        fn transcribe(
            &mut self,
            audio: &[f32],
            _language: &str,
        ) -> Result<Transcript, EngineError> {
            std::thread::sleep(Duration::from_millis(audio.len() as u64));
            self.0.lock().unwrap().push(audio.len());
            Ok(Transcript::default())
        }
    }

    #[tokio::test]
    async fn finals_go_first_and_stale_speculation_is_dropped() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let metrics = crate::metrics::Metrics::new().engine;
        let engines = Arc::new(Engines::fixed(Arc::new(Recording(order.clone()))));
        let pool = Arc::new(EnginePool::start(engines, 1, 4, metrics.clone()).unwrap());
        let run = |len: usize, urgency: Urgency| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let audio = vec![0.0; len];
                match urgency {
                    Urgency::Final => pool.transcribe(audio, Route::DEFAULT).await.map(Some),
                    _ => pool.speculate(audio, Route::DEFAULT, urgency).await,
                }
            })
        };
        // The only thread is busy for 100 ms while a partial, a tentative and a final
        // queue up, in that order.
        let busy = run(100, Urgency::Final);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let partial = run(1, Urgency::Partial);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let tentative = run(2, Urgency::Tentative);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let last = run(3, Urgency::Final);
        for task in [busy, partial, tentative, last] {
            assert!(task.await.unwrap().unwrap().is_some());
        }
        assert_eq!(*order.lock().unwrap(), [100, 3, 2, 1]);

        // Speculation that waits past its use is dropped unstarted; a third one finds no
        // room (two places per thread) and is refused at once.
        let busy = run(400, Urgency::Final);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stale = [run(4, Urgency::Partial), run(6, Urgency::Tentative)];
        tokio::time::sleep(Duration::from_millis(5)).await;
        let refused = run(5, Urgency::Partial);
        assert!(refused.await.unwrap().unwrap().is_none());
        assert!(busy.await.unwrap().unwrap().is_some());
        for task in stale {
            assert!(task.await.unwrap().unwrap().is_none());
        }
        assert_eq!(order.lock().unwrap().len(), 5, "the stale ones never ran");
        let dropped = |urgency| {
            metrics
                .speculations
                .with_label_values(&[urgency, "dropped"])
                .get()
        };
        assert_eq!((dropped("partial"), dropped("tentative")), (2, 1));
    }

    struct Broken;

    impl Engine for Broken {
        fn decoder(&self) -> Result<Box<dyn Decoder>, EngineError> {
            Err(EngineError::Model("no state".into()))
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    #[test]
    fn a_decoder_that_cannot_start_fails_the_pool() {
        let metrics = crate::metrics::Metrics::new().engine;
        let engines = Arc::new(Engines::fixed(Arc::new(Broken)));
        let err = EnginePool::start(engines, 2, 1, metrics).err().unwrap();
        assert!(err.to_string().contains("no state"));
    }
}
