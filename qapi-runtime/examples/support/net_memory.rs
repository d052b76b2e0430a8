//! An in-memory implementation of QEMU 9.0's net.json commands: netdevs
//! are names in a table, with QEMU's answers and error texts for the
//! cases a client can reach without a guest. It stands in for the real
//! drivers of `net-backends` until they land.

use std::collections::BTreeMap;
use std::sync::Mutex;

use net_backends::qapi::{
    commands, AnnounceParameters, Netdev, NetdevBranch, RxFilterInfo, SocketAddressBranch,
};
use qapi_runtime::Error;

/// One netdev: its driver's name and link state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The driver (`hubport`, `dgram`, ...).
    pub driver: &'static str,
    /// `set_link` state.
    pub up: bool,
}

/// The netdevs, by id.
#[derive(Debug, Default)]
pub struct MemoryNet {
    /// Every netdev added and not deleted.
    pub netdevs: BTreeMap<String, Entry>,
    /// `announce-self` calls.
    pub announcements: Vec<AnnounceParameters>,
}

impl commands::Commands for MemoryNet {
    fn set_link(&mut self, name: String, up: bool) -> Result<(), Error> {
        let entry = self
            .netdevs
            .get_mut(&name)
            .ok_or_else(|| Error::device_not_found(&name))?;
        entry.up = up;
        Ok(())
    }

    fn netdev_add(&mut self, arguments: Netdev) -> Result<(), Error> {
        if self.netdevs.contains_key(&arguments.id) {
            return Err(Error::generic(format!("Duplicate ID '{}'", arguments.id)));
        }
        if let NetdevBranch::Dgram(d) = &arguments.r#type {
            let multicast = matches!(&d.remote, Some(r) if matches!(&r.r#type, SocketAddressBranch::Inet(i)
                if i.host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_multicast())));
            if d.local.is_none() && !multicast {
                return Err(Error::generic("dgram requires local= parameter"));
            }
        }
        let driver = arguments.r#type.tag().as_str();
        self.netdevs
            .insert(arguments.id, Entry { driver, up: true });
        Ok(())
    }

    fn netdev_del(&mut self, id: String) -> Result<(), Error> {
        self.netdevs
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| Error::device_not_found(&id))
    }

    fn query_rx_filter(&mut self, name: Option<String>) -> Result<Vec<RxFilterInfo>, Error> {
        match name {
            // No NIC exists without a guest: nothing to list.
            None => Ok(Vec::new()),
            Some(n) if self.netdevs.contains_key(&n) => {
                Err(Error::generic(format!("net client({n}) isn't a NIC")))
            }
            Some(n) => Err(Error::generic(format!("invalid net client name: {n}"))),
        }
    }

    fn announce_self(&mut self, arguments: AnnounceParameters) -> Result<(), Error> {
        self.announcements.push(arguments);
        Ok(())
    }
}

/// [`MemoryNet`] as a QMP service: the generated adaptor.
pub type NetService = commands::QmpService<Mutex<MemoryNet>>;
