//! `-netdev l2tpv3`: Ethernet over L2TPv3, over UDP or raw IP.

use qapi_runtime::Error;

use crate::core::Receiver;
use crate::qapi::NetdevL2tPv3Options;

/// Opens an l2tpv3 netdev.
pub fn open(_id: &str, _options: &NetdevL2tPv3Options) -> Result<Box<dyn Receiver>, Error> {
    Err(Error::generic("netdev 'l2tpv3' is not supported by this build yet"))
}
