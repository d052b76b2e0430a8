//! `-netdev socket`: QEMU's legacy spelling of stream and datagram
//! sockets.

use qapi_runtime::Error;

use crate::core::Receiver;
use crate::qapi::NetdevSocketOptions;

/// Opens a socket netdev.
pub fn open(_id: &str, _options: &NetdevSocketOptions) -> Result<Box<dyn Receiver>, Error> {
    Err(Error::generic("netdev 'socket' is not supported by this build yet"))
}
