//! `/admin/v1/tenants/{id}/aws` and `/redaction`: how a tenant's streams are read and
//! what is redacted by default.

use poem_openapi::param::Path;
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{Object, OpenApi};

use super::{AdminResult, AdminTag, nonempty, tenant_not_found};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::Success;
use crate::api::streaming::RedactionEntity;
use crate::api::wire_name;
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::service::webhook_targets::check_url;
use crate::state::SharedState;
use crate::store::tenants::AwsSettings;

/// How callscribe reads the tenant's KVS streams. All optional: unset means the
/// server's default AWS credential chain and the region of the stream ARN. Unset fields
/// are left out of answers (the spec types them as strings, not nullable).
#[derive(Debug, Clone, Object, Default)]
#[oai(rename_all = "camelCase", example)]
pub struct TenantAws {
    /// IAM role to assume through STS.
    #[oai(validator(max_length = 2048), skip_serializing_if_is_none)]
    pub role_arn: Option<String>,
    #[oai(validator(max_length = 1224), skip_serializing_if_is_none)]
    pub external_id: Option<String>,
    #[oai(validator(max_length = 64), skip_serializing_if_is_none)]
    pub region: Option<String>,
    /// KVS endpoint override, e.g. `http://127.0.0.1:4567` for `callscribe kvs-emulator`.
    #[oai(validator(max_length = 2048), skip_serializing_if_is_none)]
    pub endpoint_url: Option<String>,
}

/// The entities redacted when start-streaming names none, and how card numbers are
/// masked.
#[derive(Debug, Clone, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct TenantRedaction {
    /// Without a tenant setting: CREDIT_CARD_NUMBER, CVV, PIN, SSN, PASSWORD. An empty
    /// list turns redaction off by default.
    #[oai(validator(max_items = 16))]
    pub entities: Vec<RedactionEntity>,
    /// Keep a card number's last four digits in redacted text (`#### #### #### 4242`);
    /// off by default, when the whole number is masked. Applies to conversations
    /// started (or taken over by another replica) after it is set.
    #[oai(default)]
    pub card_keep_last_four: bool,
}

impl poem_openapi::types::Example for TenantAws {
    fn example() -> Self {
        TenantAws {
            role_arn: Some("arn:aws:iam::145051540001:role/callscribe-kvs-reader".into()),
            external_id: Some("7d1f0c5e-acme".into()),
            region: None,
            endpoint_url: None,
        }
    }
}

impl poem_openapi::types::Example for TenantRedaction {
    fn example() -> Self {
        TenantRedaction {
            entities: vec![
                RedactionEntity::CreditCardNumber,
                RedactionEntity::Cvv,
                RedactionEntity::Pin,
                RedactionEntity::Ssn,
                RedactionEntity::Password,
            ],
            card_keep_last_four: false,
        }
    }
}

/// A tenant's AWS and redaction settings.
pub struct SettingsApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl SettingsApi {
    /// Get the tenant's AWS settings
    ///
    /// The role, external id, region and endpoint override used to read the tenant's
    /// Kinesis Video streams.
    #[oai(
        path = "/tenants/:id/aws",
        method = "get",
        operation_id = "getTenantAws"
    )]
    async fn get_aws(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<Success<TenantAws>> {
        let t = super::existing_tenant(&self.state, &id).await?;
        Ok(Success::json(aws_view(AwsSettings::from(&t))))
    }

    /// Get the tenant's redaction defaults
    ///
    /// The entities redacted when a start-streaming request names none (the tenant's
    /// setting, or the built-in defaults) and whether a card's last four digits are
    /// kept.
    #[oai(
        path = "/tenants/:id/redaction",
        method = "get",
        operation_id = "getTenantRedaction"
    )]
    async fn get_redaction(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> AdminResult<Success<TenantRedaction>> {
        let t = super::existing_tenant(&self.state, &id).await?;
        Ok(Success::json(redaction_view(&t)))
    }

    /// Set the tenant's redaction defaults
    ///
    /// The entities are used for every conversation whose start-streaming request has
    /// no `redactionEntities`; `cardKeepLastFour` for every conversation. Conversations
    /// already running keep their settings.
    #[oai(
        path = "/tenants/:id/redaction",
        method = "put",
        operation_id = "putTenantRedaction"
    )]
    async fn put_redaction(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<TenantRedaction>,
    ) -> AdminResult<Success<TenantRedaction>> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        let mut names: Vec<String> = body.0.entities.iter().map(wire_name).collect();
        names.sort();
        names.dedup();
        let saved = self
            .state
            .store
            .set_redaction_defaults(&tenant, Some(&names), body.0.card_keep_last_four)
            .await?
            .ok_or_else(|| ApiError::not_found("no such tenant"))?;
        Ok(Success::json(redaction_view(&saved)))
    }

    /// Set the tenant's AWS settings
    ///
    /// The IAM role callscribe assumes (with the external id) to read the tenant's
    /// Kinesis Video streams, and an optional endpoint override.
    #[oai(
        path = "/tenants/:id/aws",
        method = "put",
        operation_id = "putTenantAws"
    )]
    async fn put_aws(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<TenantAws>,
    ) -> AdminResult<Success<TenantAws>> {
        let body = body.0;
        if let Some(url) = &body.endpoint_url {
            check_url("endpointUrl", url, false)?;
        }
        if body
            .role_arn
            .as_deref()
            .is_some_and(|a| !a.starts_with("arn:") || !a.contains(":role/"))
        {
            return Err(ApiError::invalid_field(
                "roleArn",
                "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            )
            .into());
        }
        let settings = AwsSettings {
            role_arn: nonempty(body.role_arn),
            external_id: nonempty(body.external_id),
            region: nonempty(body.region),
            endpoint_url: nonempty(body.endpoint_url),
        };
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        let saved = self
            .state
            .store
            .set_aws(&tenant, &settings)
            .await?
            .ok_or_else(|| tenant_not_found(&id))?;
        Ok(Success::json(aws_view(AwsSettings::from(&saved))))
    }
}

fn aws_view(a: AwsSettings) -> TenantAws {
    TenantAws {
        role_arn: a.role_arn,
        external_id: a.external_id,
        region: a.region,
        endpoint_url: a.endpoint_url,
    }
}

/// The tenant's effective default entities.
fn redaction_view(t: &entity::tenant::Model) -> TenantRedaction {
    let names = crate::redact::tenant_defaults(t.redaction_entities.as_deref());
    TenantRedaction {
        entities: names
            .iter()
            .filter_map(|n| {
                RedactionEntity::parse_from_json(Some(serde_json::Value::from(n.as_str()))).ok()
            })
            .collect(),
        card_keep_last_four: t.card_keep_last_four,
    }
}
