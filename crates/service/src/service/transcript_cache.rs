//! Rendered message lists, kept so repeated after-call reads skip the database rows.
//!
//! Loading and rendering 1,000 messages costs milliseconds of CPU (mostly row decoding);
//! the cached JSON is served in microseconds. An entry is keyed by the conversation and
//! its stored message count, which the caller reads fresh from the database, so a new
//! message (on any replica) simply misses. Bounded by total bytes; the least recently
//! used entries go first.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::ids::ConversationId;

struct Entry {
    message_count: i32,
    body: Bytes,
    last_used: u64,
}

pub struct TranscriptCache {
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<ConversationId, Entry>,
    used_bytes: usize,
    clock: u64,
}

impl TranscriptCache {
    /// A cache holding at most `budget_bytes` of rendered JSON (0 disables it).
    pub fn new(budget_bytes: usize) -> TranscriptCache {
        TranscriptCache {
            budget_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The rendered list if it was rendered for exactly `message_count` messages.
    pub fn get(&self, conversation: &ConversationId, message_count: i32) -> Option<Bytes> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(conversation)?;
        if entry.message_count != message_count {
            return None;
        }
        entry.last_used = now;
        Some(entry.body.clone())
    }

    /// Forgets everything (after a retention purge: a list may have lost old messages
    /// while its count stayed the same).
    pub fn clear(&self) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.entries.clear();
        inner.used_bytes = 0;
    }

    pub fn put(&self, conversation: ConversationId, message_count: i32, body: Bytes) {
        if body.len() > self.budget_bytes / 4 {
            return;
        }
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.clock += 1;
        let entry = Entry {
            message_count,
            last_used: inner.clock,
            body,
        };
        inner.used_bytes += entry.body.len();
        if let Some(old) = inner.entries.insert(conversation, entry) {
            inner.used_bytes -= old.body.len();
        }
        while inner.used_bytes > self.budget_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.used_bytes -= gone.body.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ConversationId {
        ConversationId(format!("c{n}"))
    }

    #[test]
    fn a_new_message_count_misses() {
        let cache = TranscriptCache::new(1000);
        cache.put(id(1), 5, Bytes::from_static(b"five"));
        assert_eq!(cache.get(&id(1), 5).as_deref(), Some(&b"five"[..]));
        assert_eq!(cache.get(&id(1), 6), None);
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let cache = TranscriptCache::new(400);
        for n in 0..3 {
            cache.put(id(n), 1, Bytes::from(vec![b'x'; 100]));
        }
        assert!(cache.get(&id(0), 1).is_some());
        cache.put(id(3), 1, Bytes::from(vec![b'y'; 100]));
        cache.put(id(4), 1, Bytes::from(vec![b'z'; 100]));
        assert!(
            cache.get(&id(1), 1).is_none(),
            "least recently used is gone"
        );
        assert!(cache.get(&id(0), 1).is_some(), "recently read stays");
        assert!(cache.inner.lock().unwrap().used_bytes <= 400);
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let cache = TranscriptCache::new(0);
        cache.put(id(1), 1, Bytes::from_static(b"x"));
        assert!(cache.get(&id(1), 1).is_none());
    }
}
