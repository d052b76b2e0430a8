//! `-netdev dgram`: one frame per datagram (UDP, unix datagram, fd).

use qapi_runtime::Error;

use crate::core::Receiver;
use crate::qapi::NetdevDgramOptions;

/// Opens a dgram netdev.
pub fn open(_id: &str, _options: &NetdevDgramOptions) -> Result<Box<dyn Receiver>, Error> {
    Err(Error::generic("netdev 'dgram' is not supported by this build yet"))
}
