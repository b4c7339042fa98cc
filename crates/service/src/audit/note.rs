//! What the layers of one request tell the audit middleware: the authenticated key,
//! the conversation or object acted on. A task-local note, like the request id, so the
//! security scheme and the handlers add to it without the middleware parsing bodies.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

/// Filled in while a request runs; read by the middleware once it has been answered.
/// Values are raw here (in memory for the request only) and hashed when recorded.
#[derive(Debug, Default, Clone)]
pub struct Note {
    /// The API key that authenticated the request, and its tenant.
    pub key: Option<(String, String)>,
    /// The conversation's ContactId (guid).
    pub subject: Option<String>,
    /// What an admin call created or acted on, as (kind, id); kind `key` is hashed.
    pub target: Option<(&'static str, String)>,
}

tokio::task_local! {
    static NOTE: Arc<Mutex<Note>>;
}

/// Runs `request` with an empty note and returns what was noted during it.
pub async fn scope<F: Future>(request: F) -> (F::Output, Note) {
    let note = Arc::new(Mutex::new(Note::default()));
    let output = NOTE.scope(note.clone(), request).await;
    let noted = note.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (output, noted)
}

/// Adds to the current request's note; outside a request (tools, tests) it does nothing.
fn with(change: impl FnOnce(&mut Note)) {
    let _ = NOTE.try_with(|note| change(&mut note.lock().unwrap_or_else(PoisonError::into_inner)));
}

/// The request was authenticated with `key_id` of `tenant_id`.
pub fn note_key(key_id: &str, tenant_id: &str) {
    with(|n| n.key = Some((key_id.to_owned(), tenant_id.to_owned())));
}

/// The request is about the conversation with this ContactId.
pub fn note_subject(guid: &str) {
    with(|n| n.subject = Some(guid.to_owned()));
}

/// The admin call created or acted on `kind` `id` (`tenant`, `key`, ...).
pub fn note_target(kind: &'static str, id: &str) {
    with(|n| n.target = Some((kind, id.to_owned())));
}
