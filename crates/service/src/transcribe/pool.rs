//! The shared engine: a fixed set of decode threads behind a bounded queue. Callers
//! await a queue slot, so a burst of utterances waits its turn (and shows up in the
//! queue metrics) instead of oversubscribing the CPU, whatever engine each conversation
//! uses. Each thread owns its decoders, one per engine it has been asked for (the default
//! engine's made at start); nothing of whisper.cpp or ONNX Runtime crosses threads.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
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

struct Job {
    audio: Vec<f32>,
    model: EngineModel,
    language: &'static str,
    submitted: Instant,
    reply: oneshot::Sender<Result<Decoded, EngineError>>,
    /// Holds the caller's queue slot until the decode is done.
    _slot: OwnedSemaphorePermit,
}

pub struct EnginePool {
    jobs: std_mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    engines: Arc<Engines>,
    metrics: EngineMetrics,
    workers: usize,
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
        let (jobs, inbox) = std_mpsc::channel::<Job>();
        let inbox = Arc::new(Mutex::new(inbox));
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let default = engines.default_model();
        // Decoders are made one at a time: loading folds Moonshine's weights through
        // temporaries, and two session pairs opened at once measured ~340 MB more peak RSS
        // (in Python, with the same runtime and settings).
        let opening = Arc::new(Mutex::new(()));
        for i in 0..workers {
            let opening = opening.clone();
            let engines = engines.clone();
            let inbox = inbox.clone();
            let ready = ready_tx.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
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
                            work(decoders, &engines, &inbox, &metrics);
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                })
                .map_err(|e| EngineError::Model(format!("cannot start a decode thread: {e}")))?;
        }
        drop(ready_tx);
        for _ in 0..workers {
            ready_rx.recv().map_err(|_| EngineError::Stopped)??;
        }
        Ok(EnginePool {
            jobs,
            slots: Arc::new(Semaphore::new(workers + queue.max(1))),
            engines,
            metrics,
            workers,
        })
    }

    /// Decodes one utterance (16 kHz f32) as `route` says, waiting for its engine to be
    /// loaded (the first use of a lazily loaded model) and for a queue slot first.
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
        let (reply, answer) = oneshot::channel();
        let job = Job {
            audio,
            model,
            language: route.language,
            submitted,
            reply,
            _slot: slot,
        };
        if self.jobs.send(job).is_err() {
            self.metrics.queue_depth.dec();
            return Err(EngineError::Stopped);
        }
        answer.await.map_err(|_| EngineError::Stopped)?
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

fn work(
    mut decoders: HashMap<EngineModel, Box<dyn Decoder>>,
    engines: &Engines,
    inbox: &Mutex<std_mpsc::Receiver<Job>>,
    metrics: &EngineMetrics,
) {
    loop {
        let job = {
            let Ok(inbox) = inbox.lock() else { return };
            match inbox.recv() {
                Ok(job) => job,
                Err(_) => return, // the pool is gone
            }
        };
        metrics.queue_depth.dec();
        let waited = job.submitted.elapsed();
        metrics.wait_seconds.observe(waited.as_secs_f64());
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
        let _ = job.reply.send(result.map(|transcript| Decoded {
            transcript,
            waited,
            decode,
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
