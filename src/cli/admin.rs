//! `callscribe admin`: tenants, apps, keys and webhook targets, straight in the database
//! (for operators without the admin token at hand).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use callscribe::config::Config;
use callscribe::ids::TenantId;
use callscribe::service::webhook_targets::TargetRequest;
use callscribe::webhook::target::{AuthPublic, AuthSecret, SecretLocation};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and print its id.
    TenantCreate { name: String },
    /// List tenants.
    TenantList,
    /// Create an app, or set its per-key rate limit (unset: the server default).
    AppSet {
        #[arg(long)]
        tenant: String,
        app: String,
        /// Requests per second per key.
        #[arg(long)]
        rate: Option<u32>,
        /// Burst per key.
        #[arg(long)]
        burst: Option<u32>,
    },
    /// Create an API key (printed once) for an app of a tenant.
    KeyCreate(KeyArgs),
    /// List a tenant's keys.
    KeyList {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key.
    KeyRevoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
    /// Set a tenant's webhook target (the same checks as `PUT /admin/v1/tenants/{id}/webhook`).
    WebhookSet(Box<WebhookArgs>),
    /// Remove a tenant's webhook target.
    WebhookDelete {
        #[arg(long)]
        tenant: String,
    },
    /// Print a tenant's failed and dropped deliveries, newest first.
    Deliveries {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

/// How callscribe authenticates to the target.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AuthMode {
    None,
    Secret,
    CustomCa,
    Mtls,
    Oauth2,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[arg(long)]
    pub tenant: String,
    /// The URL receiving one POST per utterance.
    #[arg(long)]
    pub url: String,
    /// HMAC key for the signature headers (required the first time; kept when omitted).
    #[arg(long, env = "CALLSCRIBE_SIGNING_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,
    #[arg(long, value_enum, default_value = "none")]
    pub auth: AuthMode,
    /// Per-request timeout in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u32>,
    /// `secret`: the header or query parameter name.
    #[arg(long)]
    pub secret_name: Option<String>,
    /// `secret`: send it as a query parameter instead of a header.
    #[arg(long)]
    pub secret_in_query: bool,
    /// `secret`: the value (kept when omitted).
    #[arg(long, env = "CALLSCRIBE_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret_value: Option<String>,
    /// `custom-ca` and `mtls`: PEM file of the CA certificates to trust.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// `mtls`: PEM file of the client certificate chain.
    #[arg(long)]
    pub client_cert_file: Option<PathBuf>,
    /// `mtls`: PEM file of the client private key (kept when omitted).
    #[arg(long)]
    pub client_key_file: Option<PathBuf>,
    /// `oauth2`: the token endpoint.
    #[arg(long)]
    pub token_url: Option<String>,
    /// `oauth2`: the client id.
    #[arg(long)]
    pub client_id: Option<String>,
    /// `oauth2`: the client secret (kept when omitted).
    #[arg(long, env = "CALLSCRIBE_OAUTH2_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// `oauth2`: a scope to request (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long, default_value = "default")]
    pub app: String,
}

pub async fn run(config: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let state = callscribe::build_tool_state(config).await?;
    let store = &state.store;
    match cmd {
        AdminCommand::TenantCreate { name } => {
            let t = store.create_tenant(&name).await?;
            println!("{}", t.id);
        }
        AdminCommand::TenantList => {
            for t in store.list_tenants().await? {
                println!("{}\t{}\t{}", t.id, t.name, t.created_at.to_rfc3339());
            }
        }
        AdminCommand::AppSet {
            tenant,
            app,
            rate,
            burst,
        } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            anyhow::ensure!(
                !app.trim().is_empty() && app.len() <= 100,
                "app must be 1-100 characters"
            );
            anyhow::ensure!(
                rate != Some(0) && burst != Some(0),
                "rate and burst must be at least 1"
            );
            let limit = callscribe::store::tenants::RateLimit {
                per_second: rate,
                burst,
            };
            let saved = store.set_app_limit(&tenant, app.trim(), limit).await?;
            let show = |v: Option<i32>| v.map_or_else(|| "default".to_owned(), |v| v.to_string());
            println!(
                "{}\trate={}\tburst={}",
                saved.name,
                show(saved.rate_per_second),
                show(saved.rate_burst)
            );
        }
        AdminCommand::KeyCreate(args) => {
            let tenant = existing_tenant(&state, &args.tenant).await?;
            let key = store.create_key(&tenant, &args.app).await?;
            eprintln!("key id {} (the key below is shown only once)", key.key_id);
            println!("{}", key.key);
        }
        AdminCommand::KeyList { tenant } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            for k in store.list_keys(&tenant).await? {
                let revoked = k
                    .revoked_at
                    .map(|t| format!("revoked {}", t.to_rfc3339()))
                    .unwrap_or_else(|| "active".into());
                println!(
                    "{}\t{}\t{}\t{}",
                    k.key_id,
                    k.app,
                    k.created_at.to_rfc3339(),
                    revoked
                );
            }
        }
        AdminCommand::KeyRevoke { tenant, key_id } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            anyhow::ensure!(
                store.revoke_key(&tenant, &key_id).await?,
                "tenant has no key {key_id}"
            );
            println!("revoked {key_id}");
        }
        AdminCommand::WebhookSet(args) => {
            let tenant = existing_tenant(&state, &args.tenant).await?;
            let target = webhook_target(&args)?;
            let saved = state.webhook_targets.set(&tenant, &target).await?;
            println!("webhook set: {} ({:?})", saved.url, args.auth);
        }
        AdminCommand::WebhookDelete { tenant } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            anyhow::ensure!(
                state.webhook_targets.delete(&tenant).await?,
                "no webhook target set"
            );
            println!("webhook removed");
        }
        AdminCommand::Deliveries { tenant, limit } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            for d in store.deliveries(&tenant, limit.clamp(1, 1000)).await? {
                let status = d.http_status.map(|s| s.to_string()).unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    d.at.to_rfc3339(),
                    d.message_id,
                    d.outcome,
                    status,
                    d.error.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

/// The target the command's flags ask for.
fn webhook_target(args: &WebhookArgs) -> anyhow::Result<TargetRequest> {
    let read = |path: &Option<PathBuf>, flag: &str| -> anyhow::Result<Option<String>> {
        path.as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {flag} {}", p.display()))
            })
            .transpose()
    };
    let needs = |value: Option<String>, flag: &str| {
        value.with_context(|| format!("--auth {:?} needs {flag}", args.auth))
    };
    let mut secrets = AuthSecret {
        signing_secret: args.signing_secret.clone(),
        ..AuthSecret::default()
    };
    let auth = match args.auth {
        AuthMode::None => AuthPublic::None,
        AuthMode::Secret => {
            secrets.token = args.secret_value.clone();
            AuthPublic::Secret {
                name: needs(args.secret_name.clone(), "--secret-name")?,
                location: if args.secret_in_query {
                    SecretLocation::Query
                } else {
                    SecretLocation::Header
                },
            }
        }
        AuthMode::CustomCa => AuthPublic::CustomCa {
            ca_pem: needs(read(&args.ca_file, "--ca-file")?, "--ca-file")?,
        },
        AuthMode::Mtls => {
            secrets.client_key_pem = read(&args.client_key_file, "--client-key-file")?;
            AuthPublic::Mtls {
                client_cert_pem: needs(
                    read(&args.client_cert_file, "--client-cert-file")?,
                    "--client-cert-file",
                )?,
                ca_pem: read(&args.ca_file, "--ca-file")?,
            }
        }
        AuthMode::Oauth2 => {
            secrets.client_secret = args.client_secret.clone();
            AuthPublic::Oauth2 {
                token_url: needs(args.token_url.clone(), "--token-url")?,
                client_id: needs(args.client_id.clone(), "--client-id")?,
                scopes: args.scopes.clone(),
            }
        }
    };
    Ok(TargetRequest {
        url: args.url.clone(),
        auth,
        secrets,
        timeout_ms: args.timeout_ms,
    })
}

pub(super) async fn existing_tenant(
    state: &callscribe::state::AppState,
    id: &str,
) -> anyhow::Result<TenantId> {
    let tenant = TenantId(id.to_owned());
    anyhow::ensure!(
        state.store.tenant(&tenant).await?.is_some(),
        "no tenant {id}"
    );
    Ok(tenant)
}
