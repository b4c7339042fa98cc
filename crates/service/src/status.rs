//! The status codes the contract reports for each participant's stream (`status.code` of
//! start/stop-streaming), in one place instead of bare numbers where they are decided.

/// Why a participant's stream is in the state it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamCode {
    /// 1000: streaming, or ended normally (stopped).
    Ok,
    /// 1008: the source ended the stream (the call ended, or it now carries another contact).
    EndedBySource,
    /// 4040: the participant's track is not in the KVS stream.
    TrackNotFound,
    /// 4041: KVS does not know the stream.
    StreamNotFound,
    /// 4043: KVS or STS refused the tenant's credentials.
    AccessDenied,
    /// 5000: callscribe failed.
    Internal,
    /// 5001: the transcription engine was unavailable.
    EngineUnavailable,
    /// 5002: KVS kept failing through every retry.
    KvsUnavailable,
}

impl StreamCode {
    pub const ALL: [StreamCode; 8] = [
        StreamCode::Ok,
        StreamCode::EndedBySource,
        StreamCode::TrackNotFound,
        StreamCode::StreamNotFound,
        StreamCode::AccessDenied,
        StreamCode::Internal,
        StreamCode::EngineUnavailable,
        StreamCode::KvsUnavailable,
    ];

    /// The code a contract number stands for; `None` for a number the contract lacks.
    pub fn from_code(code: i32) -> Option<StreamCode> {
        StreamCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The code in words, for metric labels.
    pub fn label(self) -> &'static str {
        match self {
            StreamCode::Ok => "ok",
            StreamCode::EndedBySource => "ended_by_source",
            StreamCode::TrackNotFound => "track_not_found",
            StreamCode::StreamNotFound => "stream_not_found",
            StreamCode::AccessDenied => "access_denied",
            StreamCode::Internal => "internal",
            StreamCode::EngineUnavailable => "engine_unavailable",
            StreamCode::KvsUnavailable => "kvs_unavailable",
        }
    }

    /// The number the contract reports.
    pub fn code(self) -> i32 {
        match self {
            StreamCode::Ok => 1000,
            StreamCode::EndedBySource => 1008,
            StreamCode::TrackNotFound => 4040,
            StreamCode::StreamNotFound => 4041,
            StreamCode::AccessDenied => 4043,
            StreamCode::Internal => 5000,
            StreamCode::EngineUnavailable => 5001,
            StreamCode::KvsUnavailable => 5002,
        }
    }
}

/// A stream's code and its explanation, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    pub code: StreamCode,
    pub description: String,
}

impl StreamStatus {
    pub fn new(code: StreamCode, description: impl Into<String>) -> StreamStatus {
        StreamStatus {
            code,
            description: description.into(),
        }
    }

    pub fn ok() -> StreamStatus {
        StreamStatus::new(StreamCode::Ok, "OK")
    }

    pub fn is_ok(&self) -> bool {
        self.code == StreamCode::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_contract_number() {
        let numbers = StreamCode::ALL.map(StreamCode::code);
        assert_eq!(numbers, [1000, 1008, 4040, 4041, 4043, 5000, 5001, 5002]);
        for code in StreamCode::ALL {
            assert_eq!(StreamCode::from_code(code.code()), Some(code));
        }
        assert_eq!(StreamCode::from_code(1001), None);
    }
}
