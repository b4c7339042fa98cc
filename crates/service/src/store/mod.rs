//! The only module that talks to the database. One file per aggregate; handlers and
//! workers call these functions, never SeaORM directly. Works on SQLite (embedded
//! default) and PostgreSQL with the same migrations.

pub mod audit;
pub mod conversations;
pub mod deliveries;
pub mod feed;
pub mod keys;
pub mod leases;
pub mod messages;
pub mod retention;
pub mod tenants;
pub mod webhooks;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// The advisory lock key replicas take turns on to migrate (any constant unique to us).
const MIGRATION_LOCK: i64 = 0x6361_6c6c_7363_7269; // "callscri"

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects and, for SQLite, turns on WAL and foreign keys.
    pub async fn connect(url: &str) -> Result<Store, DbErr> {
        let sqlite = url.starts_with("sqlite:");
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(if sqlite { 8 } else { 20 })
            .min_connections(1);
        if sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
            });
        }
        let db = Database::connect(opts).await?;
        Ok(Store { db })
    }

    /// Applies pending migrations. On PostgreSQL, replicas starting together take turns
    /// (an advisory lock held by an open transaction), so no two create the same table.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Migrator::up(&self.db, None).await;
        }
        let turn = self.db.begin().await?;
        turn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        let migrated = Migrator::up(&self.db, None).await;
        turn.commit().await?;
        migrated
    }

    /// Cheap liveness probe for readiness checks.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.execute_unprepared("SELECT 1").await.map(|_| ())
    }

    /// A transaction that will write. On SQLite it takes the write lock at `BEGIN`
    /// (IMMEDIATE), so concurrent writers queue on the busy timeout instead of failing
    /// with "database is locked" when a read transaction tries to upgrade.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db.begin_with_options(options).await
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

/// True when the error is a unique-constraint violation (a lost insert race).
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
