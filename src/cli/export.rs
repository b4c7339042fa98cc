//! `callscribe export --date YYYY-MM-DD [--tenant ID]`: exports a day now, replacing
//! its files if it was exported before.

use chrono::{NaiveDate, Utc};

use callscribe::config::Config;
use callscribe::ids::TenantId;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The UTC day to export; it must be over.
    #[arg(long)]
    pub date: NaiveDate,
    /// Only this tenant (default: every tenant).
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Prints one line per tenant: `<tenant> <date> <rows> utterances <files> files <seconds> s`.
pub async fn run(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    anyhow::ensure!(
        args.date < today,
        "{} is not over yet (UTC); the latest day that can be exported is {}",
        args.date,
        today.pred_opt().unwrap_or(today)
    );
    let state = callscribe::build_tool_state(config).await?;
    let tenants: Vec<TenantId> = match args.tenant {
        Some(id) => vec![super::admin::existing_tenant(&state, &id).await?],
        None => state
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| TenantId(t.id))
            .collect(),
    };
    let mut failed = 0;
    for tenant in tenants {
        match state.exporter.export_day(&tenant, args.date, true).await {
            Ok(Some(done)) => println!(
                "{tenant}\t{}\t{} utterances\t{} files\t{:.2} s",
                args.date,
                done.rows,
                done.files.len(),
                done.elapsed.as_secs_f64()
            ),
            Ok(None) => println!("{tenant}\t{}\tclaimed by another run", args.date),
            Err(e) => {
                eprintln!("{tenant}\t{}\tfailed: {e}", args.date);
                failed += 1;
            }
        }
    }
    state.store.clone().close().await;
    anyhow::ensure!(failed == 0, "{failed} export(s) failed");
    Ok(())
}
