//! The control plane: QMP's net commands on a [`Network`].
//!
//! [`NetStack`] owns the packet core and implements the generated
//! [`Commands`] trait, so the generated `commands::dispatch` (or a QMP
//! server, through [`NetService`]) drives it. `netdev_add` goes through
//! the generated per-branch [`NetdevHandler`]: a branch added to the
//! schema is a compile error here until it is handled.
//!
//! What each command does, and QEMU's texts (QEMU 7.2, `net/net.c` and
//! `net/hub.c`):
//!
//! * `netdev_add`: an id that is not an identifier (a letter, then
//!   letters, digits, `-`, `.`, `_`) is refused with "Parameter 'id'
//!   expects an identifier" (`qmp_netdev_add`). `nic` and `none` (which
//!   have no netdev init function in QEMU) and `netmap` (not on this host)
//!   are refused with "network backend 'nic' is not compiled into this
//!   binary" (checked against QEMU 7.2), before the id is looked up, as
//!   in `net_client_init1`. Then an id in use is "Duplicate ID 'x'".
//!   `hubport` is built on the core: `hubid`, and `netdev=` naming its
//!   peer ("netdev 'x' not found" when there is no such netdev; NICs are
//!   not netdevs, as `qemu_find_netdev` skips them). Every other driver, not built yet, answers
//!   "netdev 'DRIVER' is not supported by this build yet" (our text).
//! * `netdev_del`: "Device 'x' not found" (`DeviceNotFound`) for a missing
//!   id or a NIC (QEMU's `qemu_find_netdev` skips NICs).
//! * `set_link`: "Device 'x' not found" (`DeviceNotFound`).
//! * `query-rx-filter`: "invalid net client name: x", "net client(x)
//!   isn't a NIC"; each NIC queried may send `NIC_RX_FILTER_CHANGED` again.
//! * `announce-self`: the first round at once, the rest when [`NetStack::poll`]
//!   finds them due (or all at once with [`NetStack::finish_announcements`]).
//!
//! Events the core raises go to the [`Emitter`] given with
//! [`NetStack::set_emitter`], after every command and every poll, or
//! when [`NetStack::flush_events`] is called (after a device model
//! changed a NIC's filter, say).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qapi_runtime::event::Emitter;
use qapi_runtime::qmp::NamedFds;
use qapi_runtime::Error;

use crate::core::{ClientId, ClientKind, NetError, Network, Receiver, SendOutcome};
use crate::driver::stream::Stream;
use crate::driver::{Cx, Driver, FrameBatch, Registration, Token};
use crate::io::{Events, Poller, WAKE_TOKEN};
use crate::qapi::commands::{self, Commands};
use crate::qapi::events::Event;
use crate::qapi::{
    AnnounceParameters, NetLegacyNicOptions, Netdev, NetdevBridgeOptions, NetdevDgramOptions,
    NetdevHandler, NetdevHubPortOptions, NetdevL2tPv3Options, NetdevNetmapOptions,
    NetdevSocketOptions, NetdevStreamOptions, NetdevTapOptions, NetdevUserOptions,
    NetdevVdeOptions, NetdevVhostUserOptions, NetdevVhostVdpaOptions, RxFilterInfo,
};

/// QEMU's `id_wellformed`: a letter, then letters, digits, `-`, `.`, `_`.
pub fn id_wellformed(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// QEMU's refusal of a type that is no netdev backend here (`driver` as
/// QEMU spells it in `NetClientDriver`).
fn not_a_backend_type(driver: &str) -> Error {
    Error::generic(format!(
        "network backend '{driver}' is not compiled into this binary"
    ))
}

/// Our refusal of a driver still to be built.
fn not_built(driver: &str) -> Error {
    Error::generic(format!(
        "netdev '{driver}' is not supported by this build yet"
    ))
}

/// Output passes per turn (see [`NetStack::flush_output`]).
const FLUSH_PASSES: usize = 4;

/// QEMU's network of netdevs and NICs with its QMP commands.
pub struct NetStack {
    net: Network,
    announcer: crate::core::Announcer,
    emitter: Option<Emitter<Event>>,
    start: Instant,
    manual_now: Option<u64>,
    io: IoState,
    /// Where `fd=NAME` descriptors come from: the QMP server's `getfd`
    /// table (`Server::named_fds`), as QEMU reads them from the monitor.
    named_fds: Option<NamedFds>,
}

/// The drivers' side of the stack: the poller (made on first use) and
/// what one turn reuses.
#[derive(Default)]
struct IoState {
    poller: Option<Arc<Poller>>,
    drivers: Vec<ClientId>,
    batch: FrameBatch,
    events: Vec<Event>,
}

impl Default for NetStack {
    fn default() -> Self {
        NetStack::new()
    }
}

impl std::fmt::Debug for NetStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetStack")
            .field("net", &self.net)
            .field("announce_timers", &self.announcer.timer_ids().count())
            .finish_non_exhaustive()
    }
}

impl NetStack {
    /// An empty network, no event sink, real (monotonic) time.
    pub fn new() -> Self {
        NetStack::with_network(Network::new())
    }

    /// A stack around an existing network.
    pub fn with_network(net: Network) -> Self {
        NetStack {
            net,
            announcer: crate::core::Announcer::new(),
            emitter: None,
            start: Instant::now(),
            manual_now: None,
            io: IoState::default(),
            named_fds: None,
        }
    }

    /// Sends events through `emitter` from now on (pending ones first).
    pub fn set_emitter(&mut self, emitter: Emitter<Event>) {
        self.emitter = Some(emitter);
        self.flush_events();
    }

    /// Lets `fd=` / `addr.type=fd` name descriptors kept by `getfd` in
    /// `named` (a QMP server's, with `Config::fd_passing`). Without it
    /// only descriptor numbers work, as on QEMU's command line.
    pub fn set_named_fds(&mut self, named: NamedFds) {
        self.named_fds = Some(named);
    }

    /// The packet core.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The packet core, to add NICs and backends or move frames. Call
    /// [`NetStack::flush_events`] afterwards to send the events raised.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// Gives the events the core raised to the emitter; returns how many.
    /// Without an emitter they stay in the core.
    pub fn flush_events(&mut self) -> usize {
        let Some(emitter) = &self.emitter else {
            return 0;
        };
        let events = self.net.take_events();
        let n = events.len();
        for e in events {
            emitter.emit(e);
        }
        n
    }

    /// "Now" in ms: since the stack was made, or the time last set with
    /// [`NetStack::set_time`].
    pub fn now_ms(&self) -> u64 {
        self.manual_now
            .unwrap_or_else(|| u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Switches to a manual clock reading `now_ms` (for tests and for
    /// callers that keep their own time).
    pub fn set_time(&mut self, now_ms: u64) {
        self.manual_now = Some(now_ms);
    }

    /// Sends every announce round due at `now_ms`; returns the frames sent.
    pub fn poll(&mut self, now_ms: u64) -> usize {
        let sent = self.announcer.poll(&mut self.net, now_ms);
        self.flush_events();
        sent
    }

    /// When the next announce round is due (ms, on [`NetStack::now_ms`]'s
    /// clock), if any.
    pub fn next_due(&self) -> Option<u64> {
        self.announcer.next_due()
    }

    /// Sends every announce round still scheduled, now, in order; returns
    /// the frames sent.
    pub fn finish_announcements(&mut self) -> usize {
        let mut sent = 0;
        while let Some(due) = self.announcer.next_due() {
            sent += self.poll(due);
        }
        sent
    }

    /// The ids of `announce-self` timers still running (`""` for none).
    pub fn announce_timers(&self) -> Vec<String> {
        self.announcer.timer_ids().map(str::to_owned).collect()
    }

    // ---- I/O --------------------------------------------------------

    /// The poller the drivers register with (made on first use).
    pub fn poller(&mut self) -> std::io::Result<Arc<Poller>> {
        if let Some(p) = &self.io.poller {
            return Ok(p.clone());
        }
        let p = Arc::new(Poller::new()?);
        self.io.poller = Some(p.clone());
        Ok(p)
    }

    /// Adds a backend driven by the I/O loop: joins the network, then
    /// attaches (registers its descriptors, maybe connects). On failure
    /// the client is gone again.
    pub fn add_driver(&mut self, name: &str, driver: Box<dyn Receiver>) -> Result<ClientId, Error> {
        let poller = self
            .poller()
            .map_err(|e| Error::generic(format!("cannot create the I/O poller: {e}")))?;
        let id = self.net.add_backend(name, driver)?;
        let reg = Registration::new(poller, id);
        let mut attached = Ok(());
        let _ = self.drive(id, |d, cx| attached = d.attach(reg, cx));
        if let Err(e) = attached {
            let _ = self.net.remove(id);
            return Err(e);
        }
        self.io.drivers.push(id);
        self.wake();
        Ok(id)
    }

    /// Removes a client; a driver's descriptors close with it.
    fn remove_client(&mut self, id: ClientId) -> Result<(), Error> {
        self.io.drivers.retain(|&d| d != id);
        self.net.remove(id)?;
        Ok(())
    }

    /// Wakes the loop thread so it re-reads its deadlines.
    fn wake(&self) {
        if let Some(p) = &self.io.poller {
            p.wake();
        }
    }

    /// Calls a driver with a fresh context, then does what it asked:
    /// link state, events, sending the frames it read (pausing its input
    /// when one has to wait), flushing its queue.
    ///
    /// Returns whether the driver's queue was flushed (frames may have
    /// reached its output since).
    fn drive(&mut self, id: ClientId, f: impl FnOnce(&mut dyn Driver, &mut Cx<'_>)) -> bool {
        let IoState { batch, events, .. } = &mut self.io;
        let Some(driver) = self.net.receiver_mut(id).and_then(|r| r.driver()) else {
            return false;
        };
        let mut cx = Cx::new(batch, events, Instant::now());
        f(driver, &mut cx);
        let (link, flush) = (cx.link, cx.flush_queue);
        if let Some(up) = link {
            let _ = self.net.set_own_link(id, up);
        }
        let mut blocked = false;
        for frame in self.io.batch.iter() {
            if let Ok(SendOutcome::Queued) = self.net.send_async(id, frame) {
                blocked = true;
            }
        }
        self.io.batch.clear();
        if blocked {
            if let Some(d) = self.net.receiver_mut(id).and_then(|r| r.driver()) {
                d.input_blocked();
            }
        }
        if flush {
            let _ = self.net.flush(id);
        }
        for e in self.io.events.drain(..) {
            self.net.push_event(e);
        }
        flush
    }

    /// One turn of the I/O loop over the readiness in `events`: every
    /// ready driver, due timers, every driver's buffered output, due
    /// announce rounds, then the events raised.
    pub fn turn(&mut self, events: &Events) {
        let poller = self.io.poller.clone();
        if let Some(p) = &poller {
            p.set_in_turn(true);
        }
        for (token, ready) in events.iter() {
            if token == WAKE_TOKEN {
                if let Some(p) = &poller {
                    p.drain_wake();
                }
                continue;
            }
            let (index, gen24, sub) = Token::decode(token);
            // A descriptor of a client deleted this turn: ignore.
            if let Some(id) = self.net.client_by_token(index, gen24) {
                let _ = self.drive(id, |d, cx| d.ready(sub, ready, cx));
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while let Some(&id) = self.io.drivers.get(i) {
            let due = self.driver_deadline(id).is_some_and(|t| t <= now);
            if due {
                let _ = self.drive(id, |d, cx| d.timer(cx));
            }
            i += 1;
        }
        self.flush_output();
        if let Some(p) = &poller {
            p.set_in_turn(false);
        }
        if self.manual_now.is_none() {
            self.poll(self.now_ms());
        } else {
            self.flush_events();
        }
    }

    /// Writes every driver's buffered output (the loop does at the end of
    /// each turn; call it after sending from a NIC without a loop).
    ///
    /// A driver that drains its output may ask for its queue to be
    /// flushed, which hands it the frames that waited: those are written
    /// in another pass, so they do not sit until the next wake-up. After
    /// [`FLUSH_PASSES`] passes the loop is woken instead.
    pub fn flush_output(&mut self) {
        for _ in 0..FLUSH_PASSES {
            let mut refilled = false;
            let mut i = 0;
            while let Some(&id) = self.io.drivers.get(i) {
                refilled |= self.drive(id, |d, cx| d.flush_output(cx));
                i += 1;
            }
            if !refilled {
                return;
            }
        }
        self.wake();
    }

    /// When driver `id` wants its timer.
    fn driver_deadline(&mut self, id: ClientId) -> Option<Instant> {
        self.net.receiver_mut(id)?.driver()?.deadline()
    }

    /// How long the loop may sleep: until the next driver timer or
    /// announce round (forever when there is none).
    pub fn next_timeout(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut i = 0;
        while let Some(&id) = self.io.drivers.get(i) {
            if let Some(t) = self.driver_deadline(id) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            i += 1;
        }
        if self.manual_now.is_none() {
            if let Some(due) = self.announcer.next_due() {
                let t = self.start + Duration::from_millis(due);
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    /// Waits for readiness (at most `timeout`, and never past the next
    /// timer) and runs one turn: the loop for callers that own the stack
    /// on one thread.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        let poller = self.poller()?;
        let timeout = match (timeout, self.next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut events = Events::with_capacity(64);
        poller.wait(&mut events, timeout)?;
        self.turn(&events);
        Ok(())
    }

    /// What a driver says it is doing (`info network`'s text), if the
    /// netdev `name` is one.
    pub fn driver_info(&mut self, name: &str) -> Option<String> {
        let id = self.net.lookup(name)?;
        Some(self.net.receiver_mut(id)?.driver()?.info())
    }

    /// The netdev (not NIC) called `name` (QEMU's `qemu_find_netdev`).
    fn find_netdev(&self, name: &str) -> Option<crate::core::ClientId> {
        self.net
            .lookup(name)
            .filter(|&id| self.net.kind(id).is_ok_and(|k| k != ClientKind::Nic))
    }

    fn check_free_id(&self, id: &str) -> Result<(), Error> {
        if self.net.lookup(id).is_some() {
            return Err(NetError::DuplicateId(id.to_owned()).into());
        }
        Ok(())
    }

    fn finish<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        self.flush_events();
        self.wake();
        r
    }
}

/// `netdev_add`, one method per driver.
struct Add<'a>(&'a mut NetStack);

impl Add<'_> {
    /// A driver still to come: the id is checked first, as QEMU looks it
    /// up before calling the driver's init function.
    fn later(self, id: &str, driver: &str) -> Result<(), Error> {
        self.0.check_free_id(id)?;
        Err(not_built(driver))
    }
}

impl NetdevHandler for Add<'_> {
    type Output = Result<(), Error>;

    fn nic(self, _id: String, _options: NetLegacyNicOptions) -> Self::Output {
        Err(not_a_backend_type("nic"))
    }

    fn user(self, id: String, _options: NetdevUserOptions) -> Self::Output {
        self.later(&id, "user")
    }

    fn tap(self, id: String, _options: NetdevTapOptions) -> Self::Output {
        self.later(&id, "tap")
    }

    fn l2tpv3(self, id: String, options: NetdevL2tPv3Options) -> Self::Output {
        self.0.check_free_id(&id)?;
        let driver = crate::driver::l2tpv3::open(&id, &options)?;
        self.0.add_driver(&id, driver)?;
        Ok(())
    }

    fn socket(self, id: String, options: NetdevSocketOptions) -> Self::Output {
        self.0.check_free_id(&id)?;
        let named = self.0.named_fds.clone();
        let driver = crate::driver::socket::open(&id, &options, named.as_ref())?;
        self.0.add_driver(&id, driver)?;
        Ok(())
    }

    fn stream(self, id: String, options: NetdevStreamOptions) -> Self::Output {
        self.0.check_free_id(&id)?;
        let driver = if options.server == Some(true) {
            if options.reconnect.is_some() {
                return Err(Error::generic(
                    "'reconnect' option is incompatible with socket in server mode",
                ));
            }
            Stream::server(&id, &options.addr, self.0.named_fds.as_ref())?
        } else {
            let reconnect = options.reconnect.unwrap_or(0);
            Stream::client(&id, &options.addr, reconnect, self.0.named_fds.as_ref())?
        };
        self.0.add_driver(&id, Box::new(driver))?;
        Ok(())
    }

    fn dgram(self, id: String, options: NetdevDgramOptions) -> Self::Output {
        self.0.check_free_id(&id)?;
        let named = self.0.named_fds.clone();
        let driver = crate::driver::dgram::open(&id, &options, named.as_ref())?;
        self.0.add_driver(&id, driver)?;
        Ok(())
    }

    fn vde(self, id: String, _options: NetdevVdeOptions) -> Self::Output {
        self.later(&id, "vde")
    }

    fn bridge(self, id: String, _options: NetdevBridgeOptions) -> Self::Output {
        self.later(&id, "bridge")
    }

    fn hubport(self, id: String, options: NetdevHubPortOptions) -> Self::Output {
        self.0.check_free_id(&id)?;
        let peer = match &options.netdev {
            Some(name) => Some(
                self.0
                    .find_netdev(name)
                    .ok_or_else(|| Error::generic(format!("netdev '{name}' not found")))?,
            ),
            None => None,
        };
        self.0.net.add_hubport(&id, options.hubid, peer)?;
        Ok(())
    }

    fn netmap(self, _id: String, _options: NetdevNetmapOptions) -> Self::Output {
        // QEMU without CONFIG_NETMAP (every Linux build) has no init
        // function for it.
        Err(not_a_backend_type("netmap"))
    }

    #[cfg(all(target_os = "linux", feature = "af-xdp"))]
    fn af_xdp(self, id: String, _options: crate::qapi::NetdevAfxdpOptions) -> Self::Output {
        self.later(&id, "af-xdp")
    }

    fn vhost_user(self, id: String, _options: NetdevVhostUserOptions) -> Self::Output {
        self.later(&id, "vhost-user")
    }

    fn vhost_vdpa(self, id: String, _options: NetdevVhostVdpaOptions) -> Self::Output {
        self.later(&id, "vhost-vdpa")
    }

    #[cfg(target_os = "macos")]
    fn vmnet_host(self, id: String, _options: crate::qapi::NetdevVmnetHostOptions) -> Self::Output {
        self.later(&id, "vmnet-host")
    }

    #[cfg(target_os = "macos")]
    fn vmnet_shared(
        self,
        id: String,
        _options: crate::qapi::NetdevVmnetSharedOptions,
    ) -> Self::Output {
        self.later(&id, "vmnet-shared")
    }

    #[cfg(target_os = "macos")]
    fn vmnet_bridged(
        self,
        id: String,
        _options: crate::qapi::NetdevVmnetBridgedOptions,
    ) -> Self::Output {
        self.later(&id, "vmnet-bridged")
    }

    fn none(self, _id: String) -> Self::Output {
        Err(not_a_backend_type("none"))
    }
}

impl Commands for NetStack {
    fn set_link(&mut self, name: String, up: bool) -> Result<(), Error> {
        let r = self.net.set_link(&name, up).map_err(Error::from);
        self.finish(r)
    }

    fn netdev_add(&mut self, arguments: Netdev) -> Result<(), Error> {
        if !id_wellformed(&arguments.id) {
            return Err(Error::generic("Parameter 'id' expects an identifier"));
        }
        let r = arguments.dispatch(Add(self));
        self.finish(r)
    }

    fn netdev_del(&mut self, id: String) -> Result<(), Error> {
        let client = self
            .find_netdev(&id)
            .ok_or_else(|| Error::device_not_found(&id))?;
        let r = self.remove_client(client);
        self.finish(r)
    }

    fn query_rx_filter(&mut self, name: Option<String>) -> Result<Vec<RxFilterInfo>, Error> {
        let r = self
            .net
            .query_rx_filter(name.as_deref())
            .map_err(Error::from);
        self.finish(r)
    }

    fn announce_self(&mut self, arguments: AnnounceParameters) -> Result<(), Error> {
        let now = self.now_ms();
        let r = self
            .announcer
            .announce_self(&mut self.net, &arguments, now)
            .map(|_| ())
            .map_err(|e| Error::generic(e.to_string()));
        self.finish(r)
    }
}

/// A [`NetStack`] as a QMP service for [`qapi_runtime::qmp::Server`]:
/// the generated adaptor around the shared stack, so the I/O loop
/// ([`crate::io::IoLoop`]) can hold it too.
pub type NetService = commands::QmpService<Arc<Mutex<NetStack>>>;

impl NetService {
    /// Serves `stack`.
    pub fn new(stack: NetStack) -> Self {
        commands::QmpService(Arc::new(Mutex::new(stack)))
    }

    /// Serves a stack shared with an I/O loop.
    pub fn shared(stack: Arc<Mutex<NetStack>>) -> Self {
        commands::QmpService(stack)
    }

    /// The stack served.
    pub fn stack(&self) -> &Arc<Mutex<NetStack>> {
        &self.0
    }
}
