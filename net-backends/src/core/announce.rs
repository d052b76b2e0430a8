//! `announce-self`: QEMU's `net/announce.c`.
//!
//! Each round sends one RARP frame from every NIC (or every NIC named in
//! `interfaces`). The first round is immediate; after a round with `r`
//! rounds still to go, the next comes after
//! `initial + (rounds - r - 1) * step` ms, or `max` when that is negative
//! or above `max`. Time is the caller's: [`Announcer`] takes "now" in
//! milliseconds and says when it next wants to be polled, so schedules
//! are deterministic and need no real timer.

use std::collections::BTreeMap;

use super::frame::{MacAddr, ETH_ZLEN};
use super::Network;
use crate::qapi::AnnounceParameters;

/// EtherType of RARP.
pub const ETH_P_RARP: u16 = 0x8035;

/// A bad `announce-self` request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// `rounds` below zero (QEMU would announce without end).
    #[error("Parameter 'rounds' expects a non-negative value")]
    NegativeRounds,
}

/// The 60-byte RARP frame QEMU's `announce_self_create` builds for `mac`:
/// a reverse request announcing `mac`, broadcast, zero-padded.
pub fn rarp_frame(mac: MacAddr) -> [u8; ETH_ZLEN] {
    let m = mac.octets();
    let mut f = [0u8; ETH_ZLEN];
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.octets());
    f[6..12].copy_from_slice(&m);
    f[12..14].copy_from_slice(&ETH_P_RARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&3u16.to_be_bytes()); // opcode: reverse request
    f[22..28].copy_from_slice(&m); // sender hardware address
                                   // 28..32 sender IP: zero
    f[32..38].copy_from_slice(&m); // target hardware address
                                   // 38..42 target IP: zero; 42..60 padding: zero
    f
}

/// The delay in ms before the next round, once a round has been sent and
/// `remaining` rounds are still to go (QEMU's `qemu_announce_timer_step`).
pub fn step_delay(params: &AnnounceParameters, remaining: i64) -> u64 {
    let factor = params.rounds.saturating_sub(remaining).saturating_sub(1);
    let mut delay = params
        .initial
        .saturating_add(factor.saturating_mul(params.step));
    if delay < 0 || delay > params.max {
        delay = params.max;
    }
    u64::try_from(delay).unwrap_or(0)
}

/// The rounds of one `announce-self`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSchedule {
    params: AnnounceParameters,
    remaining: i64,
}

impl AnnounceSchedule {
    /// A schedule with all of `params.rounds` still to go.
    pub fn new(params: &AnnounceParameters) -> Result<Self, AnnounceError> {
        if params.rounds < 0 {
            return Err(AnnounceError::NegativeRounds);
        }
        Ok(AnnounceSchedule {
            params: params.clone(),
            remaining: params.rounds,
        })
    }

    /// Rounds still to send.
    pub fn remaining(&self) -> u64 {
        u64::try_from(self.remaining).unwrap_or(0)
    }

    /// Whether every round has been sent.
    pub fn is_done(&self) -> bool {
        self.remaining <= 0
    }

    /// Records that a round was sent now; returns the delay before the
    /// next, or `None` when that was the last (or none was left).
    pub fn fire(&mut self) -> Option<u64> {
        if self.is_done() {
            return None;
        }
        self.remaining -= 1;
        if self.remaining == 0 {
            None
        } else {
            Some(step_delay(&self.params, self.remaining))
        }
    }

    /// The time of every round, in ms after the command (the first is 0).
    pub fn offsets(params: &AnnounceParameters) -> Result<Vec<u64>, AnnounceError> {
        let mut schedule = AnnounceSchedule::new(params)?;
        let mut out = Vec::new();
        let mut at = 0u64;
        while !schedule.is_done() {
            out.push(at);
            match schedule.fire() {
                Some(d) => at = at.saturating_add(d),
                None => break,
            }
        }
        Ok(out)
    }
}

#[derive(Debug)]
struct NamedTimer {
    schedule: AnnounceSchedule,
    due: u64,
}

/// QEMU's named announce timers: one per `id` (absent id: `""`); a second
/// `announce-self` with the same id replaces the first.
#[derive(Debug, Default)]
pub struct Announcer {
    timers: BTreeMap<String, NamedTimer>,
}

impl Announcer {
    /// No timers.
    pub fn new() -> Self {
        Announcer::default()
    }

    /// Runs `announce-self` at `now` (ms): sends the first round at once and
    /// keeps the rest under the request's id. Returns the frames sent.
    pub fn announce_self(
        &mut self,
        net: &mut Network,
        params: &AnnounceParameters,
        now: u64,
    ) -> Result<usize, AnnounceError> {
        let mut schedule = AnnounceSchedule::new(params)?;
        let id = params.id.clone().unwrap_or_default();
        self.timers.remove(&id);
        if schedule.is_done() {
            return Ok(0);
        }
        let sent = net.announce_round(params.interfaces.as_deref());
        if let Some(delay) = schedule.fire() {
            let due = now.saturating_add(delay);
            self.timers.insert(id, NamedTimer { schedule, due });
        }
        Ok(sent)
    }

    /// Sends every round due at `now` (ms); returns the frames sent.
    pub fn poll(&mut self, net: &mut Network, now: u64) -> usize {
        let mut sent = 0;
        self.timers.retain(|_, t| {
            while t.due <= now {
                sent += net.announce_round(t.schedule.params.interfaces.as_deref());
                match t.schedule.fire() {
                    Some(d) => t.due = t.due.saturating_add(d),
                    None => return false,
                }
            }
            true
        });
        sent
    }

    /// When the next round is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.timers.values().map(|t| t.due).min()
    }

    /// The ids of live timers.
    pub fn timer_ids(&self) -> impl Iterator<Item = &str> {
        self.timers.keys().map(String::as_str)
    }
}
