//! Where each participant's track could resume if this replica died now. A track can
//! resume after fragment F when, at the end of F, its endpointer held no utterance in
//! progress and every utterance it closed before F has been transcribed (stored, or
//! found not to be speech). The session reports idle fragments and handed-over
//! utterances; the transcriber reports finished ones; the position moves once both
//! agree. Shared by the session, its transcribers and the lease keeper.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::ids::{PerRole, Role};
use crate::store::leases::{ResumePoint, TrackPosition};

#[derive(Default)]
struct Track {
    /// Utterances handed to the transcriber.
    handed: u64,
    /// Utterances the transcriber is done with.
    finished: u64,
    /// Idle fragments waiting for the utterances handed before them: (handed, position).
    waiting: VecDeque<(u64, TrackPosition)>,
    resumable: Option<TrackPosition>,
    /// `resumable` moved since the keeper last wrote it.
    unwritten: bool,
}

impl Track {
    /// Moves `resumable` to the latest idle fragment whose utterances are all done;
    /// true if it moved.
    fn advance(&mut self) -> bool {
        let mut moved = false;
        while let Some((handed, _)) = self.waiting.front() {
            if *handed > self.finished {
                break;
            }
            self.resumable = self.waiting.pop_front().map(|(_, p)| p);
            moved = true;
        }
        self.unwritten |= moved;
        moved
    }
}

/// One conversation's tracks.
pub struct Checkpoints {
    tracks: Mutex<PerRole<Track>>,
}

impl Checkpoints {
    /// Starts from the positions a claimed lease recorded (or none on a fresh start).
    pub fn new(resume: &ResumePoint) -> Checkpoints {
        let tracks = PerRole::from_fn(|role| Track {
            resumable: resume.of(role).clone(),
            ..Track::default()
        });
        Checkpoints {
            tracks: Mutex::new(tracks),
        }
    }

    fn with<T>(&self, role: Role, f: impl FnOnce(&mut Track) -> T) -> T {
        let mut tracks = self
            .tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(tracks.of_mut(role))
    }

    /// An utterance went to the transcriber.
    pub fn handed(&self, role: Role) {
        self.with(role, |t| t.handed += 1);
    }

    /// The track held no utterance in progress at the end of this fragment.
    pub fn idle_after(&self, role: Role, position: TrackPosition) {
        self.with(role, |t| {
            // A later idle fragment needing the same utterances supersedes the last one.
            match t.waiting.back_mut() {
                Some((handed, last)) if *handed == t.handed => *last = position,
                _ => t.waiting.push_back((t.handed, position)),
            }
            t.advance();
        });
    }

    /// The transcriber is done with the track's oldest handed utterance: the position
    /// that becomes resumable with it, if it moved (stored with the message).
    pub fn finished(&self, role: Role) -> Option<TrackPosition> {
        self.with(role, |t| {
            t.finished += 1;
            t.advance().then(|| t.resumable.clone()).flatten()
        })
    }

    /// The positions that moved since the last call (the keeper writes them).
    pub fn take_unwritten(&self) -> Option<ResumePoint> {
        let mut tracks = self
            .tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut point = ResumePoint::default();
        let mut any = false;
        for role in Role::BOTH {
            let t = tracks.of_mut(role);
            if std::mem::take(&mut t.unwritten) {
                any = true;
                *point.of_mut(role) = t.resumable.clone();
            }
        }
        any.then_some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(fragment: &str) -> TrackPosition {
        TrackPosition {
            fragment: fragment.into(),
            continuation_token: None,
            audio_bytes: 0,
            contact_id: None,
        }
    }

    #[test]
    fn an_idle_fragment_waits_for_the_utterances_before_it() {
        let c = Checkpoints::new(&ResumePoint::default());
        c.handed(Role::Customer);
        c.idle_after(Role::Customer, at("1"));
        c.idle_after(Role::Customer, at("2"));
        assert_eq!(c.take_unwritten(), None);
        c.handed(Role::Customer);
        c.idle_after(Role::Customer, at("4"));
        assert_eq!(c.finished(Role::Customer), Some(at("2")));
        assert_eq!(c.finished(Role::Customer), Some(at("4")));
        let written = c.take_unwritten().unwrap();
        assert_eq!(written.customer, Some(at("4")));
        assert_eq!(written.agent, None);
        assert_eq!(c.take_unwritten(), None);
    }

    #[test]
    fn a_track_with_nothing_pending_is_resumable_at_once() {
        let c = Checkpoints::new(&ResumePoint::default());
        c.idle_after(Role::Agent, at("7"));
        assert_eq!(c.take_unwritten().unwrap().agent, Some(at("7")));
    }
}
