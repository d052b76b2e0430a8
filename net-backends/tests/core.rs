//! The packet core against QEMU's semantics, one concern per test.

use std::sync::{Arc, Mutex};

use net_backends::core::announce::step_delay;
use net_backends::core::{
    rarp_frame, AnnounceError, AnnounceSchedule, Announcer, ClientId, ClientKind, Delivery,
    DropReason, MacAddr, NetError, Network, NicConfig, NicHandle, Receiver, RxFilter, SendOutcome,
    ETH_ZLEN, NET_BUFSIZE, NET_QUEUE_DEFAULT_MAXLEN,
};
use net_backends::qapi::events::Event;
use net_backends::qapi::{AnnounceParameters, RxState};

/// What a test backend saw, shared with the test.
#[derive(Default)]
struct Log {
    frames: Vec<Vec<u8>>,
    busy: bool,
    accept_budget: Option<usize>,
    completions: Vec<SendOutcome>,
}

struct TestRx(Arc<Mutex<Log>>);

impl Receiver for TestRx {
    fn receive(&mut self, _sender: ClientId, frame: &[u8]) -> Delivery {
        let mut log = self.0.lock().unwrap();
        if log.busy {
            return Delivery::Busy;
        }
        if let Some(b) = log.accept_budget.as_mut() {
            if *b == 0 {
                return Delivery::Busy;
            }
            *b -= 1;
        }
        log.frames.push(frame.to_vec());
        Delivery::Accepted
    }

    fn send_completed(&mut self, outcome: SendOutcome) {
        self.0.lock().unwrap().completions.push(outcome);
    }
}

fn backend(net: &mut Network, name: &str) -> (ClientId, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let id = net
        .add_backend(name, Box::new(TestRx(log.clone())))
        .unwrap();
    (id, log)
}

/// A sender `s` peered with a receiver `b` that answers busy: where
/// every queue test starts.
struct BusyPair {
    net: Network,
    b: ClientId,
    s: ClientId,
    blog: Arc<Mutex<Log>>,
    slog: Arc<Mutex<Log>>,
}

fn busy_pair(mut net: Network) -> BusyPair {
    let (b, blog) = backend(&mut net, "b");
    let (s, slog) = backend(&mut net, "s");
    net.connect(s, b).unwrap();
    blog.lock().unwrap().busy = true;
    BusyPair {
        net,
        b,
        s,
        blog,
        slog,
    }
}

fn mac(last: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, last])
}

fn nic(net: &mut Network, name: &str, last: u8, peer: Option<ClientId>) -> NicHandle {
    let mut cfg = NicConfig::new(mac(last));
    cfg.path = format!("/machine/peripheral/{name}/virtio-backend");
    net.add_nic(name, cfg, peer).unwrap()
}

fn frame(tag: u8, len: usize) -> Vec<u8> {
    vec![tag; len]
}

fn recv_all(net: &mut Network, h: NicHandle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(f) = net.nic_recv_with(h, |f| f.to_vec()).unwrap() {
        out.push(f);
    }
    out
}

// ---- queue ---------------------------------------------------------------

#[test]
fn queue_bound_is_qemus_10000_frames() {
    assert_eq!(NET_QUEUE_DEFAULT_MAXLEN, 10_000);
}

#[test]
fn queue_full_drops_frames_without_completion_and_counts_them() {
    let BusyPair { mut net, b, s, .. } = busy_pair(Network::new());
    for i in 0..10_005u32 {
        net.send(s, &i.to_be_bytes()).unwrap();
    }
    assert_eq!(net.queue_len(b).unwrap(), 10_000);
    let c = net.counters(s).unwrap();
    assert_eq!(c.sent, 10_005);
    assert_eq!(c.queued, 10_000);
    assert_eq!(c.dropped_for(DropReason::QueueFull), 5);
    assert!(c.balanced());
}

#[test]
fn queue_keeps_frames_with_completion_beyond_the_bound() {
    let BusyPair { mut net, b, s, .. } = busy_pair(Network::with_queue_maxlen(3));
    for i in 0..5u8 {
        assert_eq!(net.send_async(s, &[i]).unwrap(), SendOutcome::Queued);
    }
    assert_eq!(net.queue_len(b).unwrap(), 5);
    assert_eq!(
        net.send(s, &[9]).unwrap(),
        SendOutcome::Dropped(DropReason::QueueFull)
    );
}

#[test]
fn busy_receiver_becomes_receive_disabled_and_flush_delivers_in_order() {
    let BusyPair {
        mut net,
        b,
        s,
        blog: log,
        ..
    } = busy_pair(Network::new());
    assert_eq!(net.send(s, &[1]).unwrap(), SendOutcome::Queued);
    assert!(net.receive_disabled(b).unwrap());
    net.send(s, &[2]).unwrap();
    net.send(s, &[3]).unwrap();
    assert!(log.lock().unwrap().frames.is_empty());
    log.lock().unwrap().busy = false;
    assert!(net.flush(b).unwrap());
    assert_eq!(log.lock().unwrap().frames, vec![vec![1], vec![2], vec![3]]);
    assert!(!net.receive_disabled(b).unwrap());
    let c = net.counters(s).unwrap();
    assert_eq!((c.delivered, c.queued), (3, 0));
    assert!(c.balanced());
}

#[test]
fn flush_stops_at_the_first_busy_answer() {
    let BusyPair {
        mut net,
        b,
        s,
        blog: log,
        ..
    } = busy_pair(Network::new());
    for i in 0..4u8 {
        net.send(s, &[i]).unwrap();
    }
    {
        let mut l = log.lock().unwrap();
        l.busy = false;
        l.accept_budget = Some(2);
    }
    assert!(!net.flush(b).unwrap());
    assert_eq!(log.lock().unwrap().frames, vec![vec![0], vec![1]]);
    assert_eq!(net.queue_len(b).unwrap(), 2);
    assert!(net.receive_disabled(b).unwrap());
}

#[test]
fn completion_fires_when_a_queued_frame_is_delivered() {
    let BusyPair {
        mut net,
        b,
        s,
        blog,
        slog,
    } = busy_pair(Network::new());
    assert_eq!(net.send_async(s, &[7]).unwrap(), SendOutcome::Queued);
    assert!(slog.lock().unwrap().completions.is_empty());
    blog.lock().unwrap().busy = false;
    net.flush(b).unwrap();
    assert_eq!(
        slog.lock().unwrap().completions,
        vec![SendOutcome::Delivered]
    );
}

#[test]
fn purge_removes_a_senders_frames_fires_completions_and_counts_drops() {
    let BusyPair {
        mut net,
        b,
        s,
        slog,
        ..
    } = busy_pair(Network::new());
    net.send_async(s, &[1]).unwrap();
    net.send(s, &[2]).unwrap();
    assert_eq!(net.purge(b, s).unwrap(), 2);
    assert_eq!(net.queue_len(b).unwrap(), 0);
    assert_eq!(
        slog.lock().unwrap().completions,
        vec![SendOutcome::Dropped(DropReason::Purged)]
    );
    let c = net.counters(s).unwrap();
    assert_eq!(c.dropped_for(DropReason::Purged), 2);
    assert!(c.balanced());
}

#[test]
fn flush_or_purge_purges_what_still_cannot_be_delivered() {
    let BusyPair { mut net, b, s, .. } = busy_pair(Network::new());
    net.send(s, &[1]).unwrap();
    assert!(!net.flush_or_purge(b, true).unwrap());
    assert_eq!(net.queue_len(b).unwrap(), 0);
}

#[test]
fn deleting_a_client_purges_its_frames_from_the_peer_queue() {
    let BusyPair { mut net, b, s, .. } = busy_pair(Network::new());
    net.send(s, &[1]).unwrap();
    net.remove(s).unwrap();
    assert_eq!(net.queue_len(b).unwrap(), 0);
    assert_eq!(net.peer(b).unwrap(), None);
    assert_eq!(net.counters(s), Err(NetError::StaleClient));
}

#[test]
fn stale_handle_is_an_error_not_a_panic() {
    let mut net = Network::new();
    let (s, _) = backend(&mut net, "s");
    net.remove(s).unwrap();
    let (_t, _) = backend(&mut net, "t");
    assert_eq!(net.send(s, &[1]), Err(NetError::StaleClient));
    assert_eq!(net.remove(s), Err(NetError::StaleClient));
}

#[test]
fn stopped_vm_queues_and_resume_flushes() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let (s, _) = backend(&mut net, "s");
    net.connect(s, b).unwrap();
    net.set_running(false);
    assert_eq!(net.send(s, &[1]).unwrap(), SendOutcome::Queued);
    assert!(blog.lock().unwrap().frames.is_empty());
    net.set_running(true);
    assert_eq!(blog.lock().unwrap().frames, vec![vec![1]]);
}

#[test]
fn frame_without_peer_is_dropped_and_counted() {
    let mut net = Network::new();
    let (s, _) = backend(&mut net, "s");
    assert_eq!(
        net.send(s, &[1]).unwrap(),
        SendOutcome::Dropped(DropReason::NoPeer)
    );
    assert!(net.counters(s).unwrap().balanced());
}

#[test]
fn duplicate_name_is_refused() {
    let mut net = Network::new();
    backend(&mut net, "a");
    let log = Arc::new(Mutex::new(Log::default()));
    assert_eq!(
        net.add_backend("a", Box::new(TestRx(log)))
            .unwrap_err()
            .to_string(),
        "Duplicate ID 'a'"
    );
}

// ---- hub -----------------------------------------------------------------

fn hub_of_three(net: &mut Network) -> [NicHandle; 3] {
    let mut out = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let port = net.add_hubport(&format!("hub0port{i}"), 0, None).unwrap();
        out.push(nic(net, name, i as u8, Some(port)));
    }
    [out[0], out[1], out[2]]
}

#[test]
fn hub_forwards_to_every_port_except_the_sender() {
    let mut net = Network::new();
    let [a, b, c] = hub_of_three(&mut net);
    let f = frame(0xaa, 64);
    assert_eq!(net.nic_send(a, &f).unwrap(), SendOutcome::Delivered);
    assert_eq!(recv_all(&mut net, b), vec![f.clone()]);
    assert_eq!(recv_all(&mut net, c), vec![f]);
    assert!(recv_all(&mut net, a).is_empty());
    assert_eq!(net.hub_ports(0).len(), 3);
}

#[test]
fn hub_port_link_down_cuts_only_that_port() {
    let mut net = Network::new();
    let [a, b, c] = hub_of_three(&mut net);
    net.set_link("hub0port1", false).unwrap();
    // The port's peer is a NIC, so the NIC goes down with it.
    assert!(!net.link_up(b.client()).unwrap());
    net.nic_send(a, &frame(1, 64)).unwrap();
    assert!(recv_all(&mut net, b).is_empty());
    assert_eq!(recv_all(&mut net, c).len(), 1);
    let port1 = net.lookup("hub0port1").unwrap();
    assert_eq!(
        net.counters(port1)
            .unwrap()
            .dropped_for(DropReason::SenderLinkDown),
        1
    );
}

#[test]
fn blocked_hub_destination_queues_then_drops_at_the_bound() {
    let mut net = Network::with_queue_maxlen(2);
    let p0 = net.add_hubport("p0", 0, None).unwrap();
    let p1 = net.add_hubport("p1", 0, None).unwrap();
    let (s, _) = backend(&mut net, "s");
    let (d, dlog) = backend(&mut net, "d");
    net.connect(s, p0).unwrap();
    net.connect(d, p1).unwrap();
    dlog.lock().unwrap().busy = true;
    for i in 0..5u8 {
        net.send(s, &[i]).unwrap();
    }
    // The first frame reaches d, which answers busy and keeps it; since no
    // other port can then send, the hub port stops receiving and the
    // sender's frames back up in p0's queue, to its bound, then drop.
    assert_eq!(net.queue_len(d).unwrap(), 1);
    assert_eq!(net.queue_len(p0).unwrap(), 2);
    let c = net.counters(s).unwrap();
    assert_eq!(c.dropped_for(DropReason::QueueFull), 2);
    assert!(c.balanced());
    // d can receive again: flushing it flushes the hub's other ports first.
    dlog.lock().unwrap().busy = false;
    net.flush(d).unwrap();
    assert_eq!(dlog.lock().unwrap().frames, vec![vec![0], vec![1], vec![2]]);
}

// ---- link state ----------------------------------------------------------

#[test]
fn set_link_down_drops_frames_both_ways() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    net.set_link("b", false).unwrap();
    assert!(!net.link_up(n.client()).unwrap(), "a NIC peer follows");
    assert_eq!(
        net.nic_send(n, &frame(1, 60)).unwrap(),
        SendOutcome::Dropped(DropReason::SenderLinkDown)
    );
    assert_eq!(
        net.send(b, &frame(2, 60)).unwrap(),
        SendOutcome::Dropped(DropReason::SenderLinkDown)
    );
    assert!(blog.lock().unwrap().frames.is_empty());
    assert_eq!(net.nic_pending(n).unwrap(), 0);
}

#[test]
fn frames_to_a_down_receiver_are_swallowed_and_counted() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    // set_link on a NIC takes its backend peer down? No: only a NIC peer follows.
    net.set_link("n", false).unwrap();
    assert!(net.link_up(b).unwrap());
    assert_eq!(
        net.send(b, &frame(2, 60)).unwrap(),
        SendOutcome::Dropped(DropReason::ReceiverLinkDown)
    );
    assert_eq!(net.nic_pending(n).unwrap(), 0);
    assert!(blog.lock().unwrap().frames.is_empty());
}

#[test]
fn set_link_up_restores_traffic() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    net.set_link("b", false).unwrap();
    net.set_link("b", true).unwrap();
    assert_eq!(
        net.nic_send(n, &frame(1, 60)).unwrap(),
        SendOutcome::Delivered
    );
    assert_eq!(blog.lock().unwrap().frames.len(), 1);
}

#[test]
fn set_link_of_unknown_client_is_device_not_found() {
    let mut net = Network::new();
    let e = net.set_link("nope", false).unwrap_err();
    assert_eq!(e.to_string(), "Device 'nope' not found");
    let q: qapi_runtime::Error = e.into();
    assert_eq!(q.class, qapi_runtime::ErrorClass::DeviceNotFound);
}

// ---- frames --------------------------------------------------------------

#[test]
fn short_frames_are_padded_to_eth_zlen_for_a_nic_that_asks() {
    let mut net = Network::new();
    let (b, _) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    net.send(b, &[0xab; 14]).unwrap();
    let got = net.nic_recv_with(n, |f| f.to_vec()).unwrap().unwrap();
    assert_eq!(got.len(), ETH_ZLEN);
    assert_eq!(&got[..14], &[0xab; 14]);
    assert!(got[14..].iter().all(|&x| x == 0));
}

#[test]
fn short_frames_are_not_padded_for_a_nic_that_opts_out() {
    let mut net = Network::new();
    let (b, _) = backend(&mut net, "b");
    let mut cfg = NicConfig::new(mac(1));
    cfg.pad_short_frames = false;
    let n = net.add_nic("n", cfg, Some(b)).unwrap();
    net.send(b, &[0xab; 14]).unwrap();
    assert_eq!(net.nic_recv_with(n, |f| f.len()).unwrap(), Some(14));
}

#[test]
fn oversized_frames_are_refused_and_counted() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let (s, _) = backend(&mut net, "s");
    net.connect(s, b).unwrap();
    assert_eq!(NET_BUFSIZE, 69_632);
    assert!(matches!(
        net.send(s, &vec![0; NET_BUFSIZE + 1]),
        Err(NetError::Frame(_))
    ));
    assert_eq!(
        net.send(s, &vec![0; NET_BUFSIZE]).unwrap(),
        SendOutcome::Delivered
    );
    assert_eq!(blog.lock().unwrap().frames.len(), 1);
    let c = net.counters(s).unwrap();
    assert_eq!(c.dropped_for(DropReason::Oversized), 1);
    assert!(c.balanced());
}

#[test]
fn full_nic_ring_queues_and_receiving_flushes() {
    let mut net = Network::new();
    let (b, _) = backend(&mut net, "b");
    let mut cfg = NicConfig::new(mac(1));
    cfg.rx_ring = 1;
    let n = net.add_nic("n", cfg, Some(b)).unwrap();
    net.send(b, &frame(1, 60)).unwrap();
    assert_eq!(net.send(b, &frame(2, 60)).unwrap(), SendOutcome::Queued);
    assert_eq!(recv_all(&mut net, n), vec![frame(1, 60), frame(2, 60)]);
}

#[test]
fn nic_tx_blocks_until_its_queued_frame_completes() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    blog.lock().unwrap().busy = true;
    assert_eq!(net.nic_send(n, &frame(1, 60)).unwrap(), SendOutcome::Queued);
    assert!(net.nic_tx_blocked(n).unwrap());
    blog.lock().unwrap().busy = false;
    net.flush(b).unwrap();
    assert!(!net.nic_tx_blocked(n).unwrap());
}

#[test]
fn mac_addresses_print_and_parse_as_qemu_does() {
    let m: MacAddr = "52:54:00:12:34:0A".parse().unwrap();
    assert_eq!(m.to_string(), "52:54:00:12:34:0a");
    assert!("52:54:00:12:34".parse::<MacAddr>().is_err());
    assert!("52:54:00:12:34:56:78".parse::<MacAddr>().is_err());
    assert!("zz:54:00:12:34:56".parse::<MacAddr>().is_err());
}

// ---- announce ------------------------------------------------------------

#[test]
fn rarp_frame_is_byte_exact() {
    let m = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    #[rustfmt::skip]
    let expected: [u8; 60] = [
        // Ethernet destination: broadcast (memset 0xff, 6)
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        // Ethernet source: the NIC's MAC
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        // EtherType ETH_P_RARP 0x8035, big-endian (htons)
        0x80, 0x35,
        // RARP hardware type ARP_HTYPE_ETH = 1
        0x00, 0x01,
        // protocol type ARP_PTYPE_IP = 0x0800
        0x08, 0x00,
        // hardware address length 6, protocol address length 4
        0x06, 0x04,
        // opcode ARP_OP_REQUEST_REV = 3
        0x00, 0x03,
        // sender hardware address: the MAC
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        // sender protocol address: 0.0.0.0
        0x00, 0x00, 0x00, 0x00,
        // target hardware address: the MAC again
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        // target protocol address: 0.0.0.0
        0x00, 0x00, 0x00, 0x00,
        // 18 bytes of zero padding up to 60 (ETH_ZLEN, no FCS)
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(rarp_frame(m), expected);
}

fn params(initial: i64, max: i64, rounds: i64, step: i64) -> AnnounceParameters {
    AnnounceParameters {
        initial,
        max,
        rounds,
        step,
        interfaces: None,
        id: None,
    }
}

#[test]
fn announce_schedule_with_qemu_defaults_matches_measured_rounds() {
    // QEMU 7.2 measured: +1, 51, 201, 451, 800 ms.
    assert_eq!(
        AnnounceSchedule::offsets(&params(50, 550, 5, 100)).unwrap(),
        vec![0, 50, 200, 450, 800]
    );
}

#[test]
fn announce_step_is_capped_at_max() {
    assert_eq!(
        AnnounceSchedule::offsets(&params(100, 150, 4, 100)).unwrap(),
        vec![0, 100, 250, 400]
    );
    // A negative step value falls back to max too.
    assert_eq!(step_delay(&params(-500, 30, 3, 0), 2), 30);
}

#[test]
fn announce_with_zero_rounds_sends_nothing_and_negative_is_refused() {
    assert!(AnnounceSchedule::offsets(&params(50, 550, 0, 100))
        .unwrap()
        .is_empty());
    assert_eq!(
        AnnounceSchedule::new(&params(50, 550, -1, 100)),
        Err(AnnounceError::NegativeRounds)
    );
}

#[test]
fn announcer_sends_rarp_from_every_nic_on_schedule() {
    let mut net = Network::new();
    let (b, blog) = backend(&mut net, "b");
    let n = nic(&mut net, "n", 1, Some(b));
    let mut ann = Announcer::new();
    assert_eq!(
        ann.announce_self(&mut net, &params(50, 550, 3, 100), 1000)
            .unwrap(),
        1
    );
    assert_eq!(
        blog.lock().unwrap().frames,
        vec![rarp_frame(net.nic_mac(n).unwrap()).to_vec()]
    );
    assert_eq!(ann.next_due(), Some(1050));
    assert_eq!(ann.poll(&mut net, 1049), 0);
    assert_eq!(ann.poll(&mut net, 1050), 1);
    assert_eq!(ann.next_due(), Some(1200));
    assert_eq!(ann.poll(&mut net, 5000), 1);
    assert_eq!(ann.next_due(), None);
    assert_eq!(blog.lock().unwrap().frames.len(), 3);
}

#[test]
fn announce_interfaces_limits_the_nics() {
    let mut net = Network::new();
    let (b1, l1) = backend(&mut net, "b1");
    let (b2, l2) = backend(&mut net, "b2");
    nic(&mut net, "n1", 1, Some(b1));
    nic(&mut net, "n2", 2, Some(b2));
    let mut p = params(50, 550, 1, 100);
    p.interfaces = Some(vec!["n2".into()]);
    assert_eq!(Announcer::new().announce_self(&mut net, &p, 0).unwrap(), 1);
    assert!(l1.lock().unwrap().frames.is_empty());
    assert_eq!(l2.lock().unwrap().frames.len(), 1);
}

#[test]
fn announce_with_the_same_id_replaces_the_timer() {
    let mut net = Network::new();
    let mut ann = Announcer::new();
    let mut p = params(50, 550, 5, 100);
    p.id = Some("t".into());
    ann.announce_self(&mut net, &p, 0).unwrap();
    p.initial = 10;
    ann.announce_self(&mut net, &p, 0).unwrap();
    assert_eq!(ann.timer_ids().collect::<Vec<_>>(), vec!["t"]);
    assert_eq!(ann.next_due(), Some(10));
}

// ---- rx filter -----------------------------------------------------------

#[test]
fn rx_filter_changed_is_emitted_once_until_queried() {
    let mut net = Network::new();
    let n = nic(&mut net, "vnet0", 1, None);
    let mut f = RxFilter {
        promiscuous: false,
        ..RxFilter::default()
    };
    net.nic_set_rx_filter(n, f.clone()).unwrap();
    f.multicast = RxState::All;
    net.nic_set_rx_filter(n, f.clone()).unwrap();
    let events = net.take_events();
    assert_eq!(events.len(), 1);
    match &events[0] {
        Event::NicRxFilterChanged(e) => {
            assert_eq!(e.name.as_deref(), Some("vnet0"));
            assert_eq!(e.path, "/machine/peripheral/vnet0/virtio-backend");
        }
        other => panic!("unexpected event {other:?}"),
    }
    let info = net.query_rx_filter(Some("vnet0")).unwrap();
    assert_eq!(info[0].multicast, RxState::All);
    assert!(!info[0].promiscuous);
    assert_eq!(info[0].main_mac, "52:54:00:12:34:01");
    net.nic_set_rx_filter(n, f).unwrap();
    assert_eq!(net.take_events().len(), 1);
}

#[test]
fn query_rx_filter_refuses_non_nics_and_unknown_names() {
    let mut net = Network::new();
    backend(&mut net, "b");
    nic(&mut net, "n", 1, None);
    assert_eq!(
        net.query_rx_filter(Some("b")).unwrap_err().to_string(),
        "net client(b) isn't a NIC"
    );
    assert_eq!(
        net.query_rx_filter(Some("x")).unwrap_err().to_string(),
        "invalid net client name: x"
    );
    let all = net.query_rx_filter(None).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(net.kind(net.lookup("n").unwrap()).unwrap(), ClientKind::Nic);
}

#[test]
fn frames_backed_up_in_a_hub_reach_a_nic_when_it_takes_frames() {
    let mut net = Network::new();
    let p0 = net.add_hubport("p0", 0, None).unwrap();
    let p1 = net.add_hubport("p1", 0, None).unwrap();
    let a = nic(&mut net, "a", 1, Some(p0));
    let mut cfg = NicConfig::new(mac(2));
    cfg.rx_ring = 2;
    let b = net.add_nic("b", cfg, Some(p1)).unwrap();
    for i in 0..5u8 {
        net.nic_send(a, &frame(i, 60)).unwrap();
    }
    assert_eq!(net.nic_pending(b).unwrap(), 2);
    assert_eq!(net.queue_len(p0).unwrap(), 3);
    let got: Vec<u8> = recv_all(&mut net, b).iter().map(|f| f[0]).collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    assert!(!net.nic_tx_blocked(a).unwrap());
}

struct Refuse;

impl Receiver for Refuse {
    fn receive(&mut self, _sender: ClientId, _frame: &[u8]) -> Delivery {
        Delivery::Failed
    }
}

#[test]
fn receiver_failure_is_a_counted_drop_not_a_queue() {
    let mut net = Network::new();
    let r = net.add_backend("r", Box::new(Refuse)).unwrap();
    let (s, _) = backend(&mut net, "s");
    net.connect(s, r).unwrap();
    assert_eq!(
        net.send(s, &[1]).unwrap(),
        SendOutcome::Dropped(DropReason::ReceiverFailed)
    );
    assert_eq!(net.queue_len(r).unwrap(), 0);
    assert!(!net.receive_disabled(r).unwrap());
    assert!(net.counters(s).unwrap().balanced());
}
