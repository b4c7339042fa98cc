//! Tenants, their apps (rate limits) and their AWS settings.

use chrono::Utc;
use entity::{app, tenant};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Store, is_unique_violation};
use crate::config::EngineModel;
use crate::ids::{AppId, TenantId};

/// AWS access used to read a tenant's KVS streams. All optional: unset means the
/// default credential chain and the stream ARN's region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Per-key rate limit of an app; `None` fields take the server default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: Option<u32>,
    pub burst: Option<u32>,
}

/// Outcome of creating an app that might already exist.
pub enum AppCreated {
    New(app::Model),
    Existing(app::Model),
}

impl Store {
    pub async fn create_tenant(&self, name: &str) -> Result<tenant::Model, sea_orm::DbErr> {
        tenant::ActiveModel {
            id: Set(TenantId::generate().0),
            name: Set(name.to_owned()),
            aws_role_arn: Set(None),
            aws_external_id: Set(None),
            aws_region: Set(None),
            aws_endpoint_url: Set(None),
            redaction_entities: Set(None),
            card_keep_last_four: Set(false),
            engine_model: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(self.db())
        .await
    }

    pub async fn list_tenants(&self) -> Result<Vec<tenant::Model>, sea_orm::DbErr> {
        tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAt)
            .all(self.db())
            .await
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<Option<tenant::Model>, sea_orm::DbErr> {
        tenant::Entity::find_by_id(id.0.clone())
            .one(self.db())
            .await
    }

    /// Replaces the tenant's AWS settings; `None` when the tenant does not exist.
    pub async fn set_aws(
        &self,
        id: &TenantId,
        aws: &AwsSettings,
    ) -> Result<Option<tenant::Model>, sea_orm::DbErr> {
        let Some(t) = self.tenant(id).await? else {
            return Ok(None);
        };
        let mut am: tenant::ActiveModel = t.into();
        am.aws_role_arn = Set(aws.role_arn.clone());
        am.aws_external_id = Set(aws.external_id.clone());
        am.aws_region = Set(aws.region.clone());
        am.aws_endpoint_url = Set(aws.endpoint_url.clone());
        am.update(self.db()).await.map(Some)
    }

    /// Sets the tenant's default redaction entities (`None`: the built-in defaults)
    /// and whether a card's last four digits are kept; `None` when the tenant does not
    /// exist.
    pub async fn set_redaction_defaults(
        &self,
        id: &TenantId,
        entities: Option<&[String]>,
        card_keep_last_four: bool,
    ) -> Result<Option<tenant::Model>, sea_orm::DbErr> {
        let Some(t) = self.tenant(id).await? else {
            return Ok(None);
        };
        let mut am: tenant::ActiveModel = t.into();
        am.redaction_entities = Set(entities.map(|e| serde_json::Value::from(e).to_string()));
        am.card_keep_last_four = Set(card_keep_last_four);
        am.update(self.db()).await.map(Some)
    }

    /// Sets the tenant's speech engine (`None`: the replica's default); `None` when the
    /// tenant does not exist.
    pub async fn set_engine_model(
        &self,
        id: &TenantId,
        model: Option<EngineModel>,
    ) -> Result<Option<tenant::Model>, sea_orm::DbErr> {
        let Some(t) = self.tenant(id).await? else {
            return Ok(None);
        };
        let mut am: tenant::ActiveModel = t.into();
        am.engine_model = Set(model.map(|m| m.as_str().to_owned()));
        am.update(self.db()).await.map(Some)
    }

    /// The app of that name, created with default limits when it does not exist yet.
    pub async fn ensure_app(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<app::Model, sea_orm::DbErr> {
        if let Some(found) = self.app_by_name(tenant, name).await? {
            return Ok(found);
        }
        match self.create_app(tenant, name, RateLimit::default()).await? {
            AppCreated::New(a) | AppCreated::Existing(a) => Ok(a),
        }
    }

    pub async fn create_app(
        &self,
        tenant: &TenantId,
        name: &str,
        limit: RateLimit,
    ) -> Result<AppCreated, sea_orm::DbErr> {
        let inserted = app::ActiveModel {
            id: Set(AppId::generate().0),
            tenant_id: Set(tenant.0.clone()),
            name: Set(name.to_owned()),
            rate_per_second: Set(limit.per_second.map(to_i32)),
            rate_burst: Set(limit.burst.map(to_i32)),
            created_at: Set(Utc::now()),
        }
        .insert(self.db())
        .await;
        match inserted {
            Ok(a) => Ok(AppCreated::New(a)),
            Err(e) if is_unique_violation(&e) => match self.app_by_name(tenant, name).await? {
                Some(a) => Ok(AppCreated::Existing(a)),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn app_by_name(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<app::Model>, sea_orm::DbErr> {
        app::Entity::find()
            .filter(app::Column::TenantId.eq(tenant.0.as_str()))
            .filter(app::Column::Name.eq(name))
            .one(self.db())
            .await
    }

    pub async fn list_apps(&self, tenant: &TenantId) -> Result<Vec<app::Model>, sea_orm::DbErr> {
        app::Entity::find()
            .filter(app::Column::TenantId.eq(tenant.0.as_str()))
            .order_by_asc(app::Column::Name)
            .all(self.db())
            .await
    }

    /// Sets (or creates) an app's rate limit.
    pub async fn set_app_limit(
        &self,
        tenant: &TenantId,
        name: &str,
        limit: RateLimit,
    ) -> Result<app::Model, sea_orm::DbErr> {
        let existing = match self.create_app(tenant, name, limit).await? {
            AppCreated::New(a) => return Ok(a),
            AppCreated::Existing(a) => a,
        };
        let mut am: app::ActiveModel = existing.into();
        am.rate_per_second = Set(limit.per_second.map(to_i32));
        am.rate_burst = Set(limit.burst.map(to_i32));
        am.update(self.db()).await
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl From<&tenant::Model> for AwsSettings {
    fn from(t: &tenant::Model) -> Self {
        AwsSettings {
            role_arn: t.aws_role_arn.clone(),
            external_id: t.aws_external_id.clone(),
            region: t.aws_region.clone(),
            endpoint_url: t.aws_endpoint_url.clone(),
        }
    }
}
