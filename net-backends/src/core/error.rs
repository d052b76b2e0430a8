//! Errors of the packet core.

use super::frame::FrameError;

/// A refused request, worded as QEMU words it where QEMU has a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// A client of that name exists.
    #[error("Duplicate ID '{0}'")]
    DuplicateId(String),
    /// No client of that name (QMP class `DeviceNotFound`).
    #[error("Device '{0}' not found")]
    DeviceNotFound(String),
    /// `query-rx-filter` named a client that is not a NIC.
    #[error("net client({0}) isn't a NIC")]
    NotNic(String),
    /// `query-rx-filter` named no client.
    #[error("invalid net client name: {0}")]
    InvalidClientName(String),
    /// The handle's client was deleted.
    #[error("net client no longer exists")]
    StaleClient,
    /// The client already has a peer.
    #[error("net client '{0}' is already in use")]
    PeerInUse(String),
    /// A client cannot be its own peer.
    #[error("net client '{0}' cannot be its own peer")]
    SelfPeer(String),
    /// The handle is not a NIC's.
    #[error("net client '{0}' isn't a NIC")]
    NotANicHandle(String),
    /// The frame was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl From<NetError> for qapi_runtime::Error {
    fn from(e: NetError) -> Self {
        match &e {
            NetError::DeviceNotFound(name) => qapi_runtime::Error::device_not_found(name),
            _ => qapi_runtime::Error::generic(e.to_string()),
        }
    }
}
