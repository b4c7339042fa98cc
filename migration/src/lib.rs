//! Schema migrations, shared by SQLite and PostgreSQL. Run by `callscribe migrate` and
//! on every `serve` start.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_foundation;
mod m20261129_000002_tenant_redaction;
mod m20261129_000003_feed_exports;
mod m20261129_000004_leases;
mod m20261129_000005_audit_log;
mod m20261203_000006_tenant_engine;
mod m20261204_000007_lease_contact;
mod m20261204_000008_card_keep_last_four;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_foundation::Migration),
            Box::new(m20261129_000002_tenant_redaction::Migration),
            Box::new(m20261129_000003_feed_exports::Migration),
            Box::new(m20261129_000004_leases::Migration),
            Box::new(m20261129_000005_audit_log::Migration),
            Box::new(m20261203_000006_tenant_engine::Migration),
            Box::new(m20261204_000007_lease_contact::Migration),
            Box::new(m20261204_000008_card_keep_last_four::Migration),
        ]
    }
}
