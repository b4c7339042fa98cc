//! The shared engine: a fixed set of decode threads behind a bounded queue. Callers
//! await a queue slot, so a burst of utterances waits its turn (and shows up in the
//! queue metrics) instead of oversubscribing the CPU. Each thread owns its decoder;
//! nothing of whisper.cpp crosses threads.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{Engine, EngineError, Transcript};
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
    submitted: Instant,
    reply: oneshot::Sender<Result<Decoded, EngineError>>,
    /// Holds the caller's queue slot until the decode is done.
    _slot: OwnedSemaphorePermit,
}

pub struct EnginePool {
    jobs: std_mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    metrics: EngineMetrics,
    workers: usize,
    describe: String,
}

/// Decode threads for a machine: one per core, each decoding with one thread, which
/// measured faster in total than fewer threads with more cores each and degrades
/// gracefully under contention.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl EnginePool {
    /// Starts `workers` decode threads (0 = one per core) with room for `queue`
    /// waiting utterances. Fails if a decoder cannot be created.
    pub fn start(
        engine: Arc<dyn Engine>,
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
        for i in 0..workers {
            let engine = engine.clone();
            let inbox = inbox.clone();
            let ready = ready_tx.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name(format!("decode-{i}"))
                .spawn(move || match engine.decoder() {
                    Ok(decoder) => {
                        let _ = ready.send(Ok(()));
                        drop(ready);
                        work(decoder, &inbox, &metrics);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
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
            metrics,
            workers,
            describe: engine.describe(),
        })
    }

    /// Decodes one utterance (16 kHz f32), waiting for a queue slot first.
    pub async fn transcribe(&self, audio: Vec<f32>) -> Result<Decoded, EngineError> {
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

    pub fn describe(&self) -> &str {
        &self.describe
    }
}

fn work(
    mut decoder: Box<dyn super::Decoder>,
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
        let result = decoder.transcribe(&job.audio);
        let decode = started.elapsed();
        metrics.decode_seconds.observe(decode.as_secs_f64());
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::transcribe::Decoder;

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
        fn transcribe(&mut self, audio: &[f32]) -> Result<Transcript, EngineError> {
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
        let pool = Arc::new(EnginePool::start(engine, 2, 3, metrics.clone()).unwrap());
        let calls: Vec<_> = (1..=12)
            .map(|n| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.transcribe(vec![0.0; n]).await })
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
        let err = EnginePool::start(Arc::new(Broken), 2, 1, metrics)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no state"));
    }
}
