//! Faults around a running call: the database going away mid-call. PostgreSQL is reached
//! through a TCP proxy the test can cut (every connection dropped, new ones refused), so
//! the outage hits only this test's service. PostgreSQL only; on SQLite the test returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callscribe::config::Secret;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{
    assert_said_once, fresh_postgres_url, postgres_selected, spawn_speech_app_with,
};
use crate::kvs_emulator::CONTACT;
use crate::transcription::{CALL_END_WAIT, start_call_as, two_party_call};

/// A TCP proxy to PostgreSQL that can be cut and restored.
struct DatabaseLink {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DatabaseLink {
    async fn to(upstream: String) -> DatabaseLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_pipes) = (up.clone(), pipes.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let upstream = upstream.clone();
                accept_pipes.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        DatabaseLink { addr, up, pipes }
    }

    /// Drops every open connection and refuses new ones.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.pipes.lock().await.drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Splits `postgres://user@host:port/db` into (`postgres://user`, `host:port`, `db`).
fn url_parts(url: &str) -> (&str, &str, &str) {
    let (scheme_user, rest) = url.split_once('@').expect("url has user@host");
    let (host_port, db) = rest.split_once('/').expect("url has a database");
    (scheme_user, host_port, db)
}

#[tokio::test]
async fn a_database_outage_mid_call_loses_nothing_and_readiness_reports_it() {
    if !postgres_selected() {
        eprintln!("the database outage runs on PostgreSQL only: skipped on SQLite");
        return;
    }
    let direct = fresh_postgres_url().await;
    let (user, server, db) = url_parts(&direct);
    let link = DatabaseLink::to(server.to_owned()).await;
    let proxied = format!("{user}@{}/{db}", link.addr);
    let app = spawn_speech_app_with(|c| c.database_url = Some(Secret::new(proxied))).await;
    let (tenant, key) = app.tenant_with_key().await;
    let (customer, agent) = two_party_call();
    let _kvs = start_call_as(&app, &tenant, &key, customer, agent, 1.0, false).await;

    // 8 s into the 31 s call, the database disappears for 6 s (less than a lease).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let before = stored_ids(&app).await;
    link.cut().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = app.get("/health/ready").await;
    assert_eq!(during.status(), 503, "readiness reports the outage");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    link.restore();

    app.streams_ended(CALL_END_WAIT).await;
    assert_eq!(app.get("/health/ready").await.status(), 200, "ready again");
    assert_eq!(app.stop(&key, CONTACT).await.status(), 200);
    let items = app.message_items(&key, CONTACT).await;
    let after: Vec<String> = items
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        before.iter().all(|id| after.contains(id)),
        "everything stored before the outage is still there"
    );
    assert!(
        after.len() > before.len(),
        "utterances of and after the outage were stored too: {} before, {} after",
        before.len(),
        after.len()
    );
    let text = items
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    // The turns after the outage (the queue prompt at 17.5 s, "thank you" at 24 s, the
    // apology at 26 s) and JFK's sentences spoken during it.
    for word in ["country", "next", "thank", "sorry"] {
        assert!(text.contains(word), "`{word}` missing from: {text}");
    }
    for role in ["customer", "agent"] {
        assert_said_once(&items, role, "across the outage");
    }
}

async fn stored_ids(app: &crate::helpers::TestApp) -> Vec<String> {
    use sea_orm::EntityTrait;
    entity::message::Entity::find()
        .all(app.state.store.db())
        .await
        .expect("messages")
        .into_iter()
        .map(|m| m.id)
        .collect()
}
