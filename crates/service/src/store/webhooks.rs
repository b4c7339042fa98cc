//! A tenant's webhook target. Secrets arrive here already sealed (see `crate::secrets`).

use chrono::Utc;
use entity::webhook_target;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};

use super::Store;
use crate::ids::TenantId;

/// A target as stored: auth settings split into public JSON and sealed secret JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRecord {
    pub url: String,
    pub auth_mode: String,
    pub auth_public: String,
    pub auth_sealed: Option<String>,
    pub timeout_ms: i32,
}

impl Store {
    /// Creates or replaces the tenant's target.
    pub async fn put_webhook(
        &self,
        tenant: &TenantId,
        t: &TargetRecord,
    ) -> Result<webhook_target::Model, sea_orm::DbErr> {
        let existing = webhook_target::Entity::find_by_id(tenant.0.clone())
            .one(self.db())
            .await?;
        let is_new = existing.is_none();
        let mut am = match existing {
            Some(m) => m.into_active_model(),
            None => webhook_target::ActiveModel {
                tenant_id: Set(tenant.0.clone()),
                ..Default::default()
            },
        };
        am.url = Set(t.url.clone());
        am.auth_mode = Set(t.auth_mode.clone());
        am.auth_public = Set(t.auth_public.clone());
        am.auth_sealed = Set(t.auth_sealed.clone());
        am.timeout_ms = Set(t.timeout_ms);
        am.updated_at = Set(Utc::now());
        // `save` would guess UPDATE from the set primary key; say which one it is.
        if is_new {
            am.insert(self.db()).await?;
        } else {
            am.update(self.db()).await?;
        }
        webhook_target::Entity::find_by_id(tenant.0.clone())
            .one(self.db())
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("webhook target vanished".into()))
    }

    pub async fn webhook(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<webhook_target::Model>, sea_orm::DbErr> {
        webhook_target::Entity::find_by_id(tenant.0.clone())
            .one(self.db())
            .await
    }

    /// Removes the target; `false` when there was none.
    pub async fn delete_webhook(&self, tenant: &TenantId) -> Result<bool, sea_orm::DbErr> {
        let res = webhook_target::Entity::delete_by_id(tenant.0.clone())
            .exec(self.db())
            .await?;
        Ok(res.rows_affected > 0)
    }
}
