//! In-process traffic: ICMP echo, TCP connect and transfers, UDP exchanges, listeners.
//! Sockets are opened on a thread inside the node's namespace and then used from the
//! caller's thread.
//!
//! Every wait is a `poll` with a deadline, never a sleep: a reply, an ICMP error or a
//! local failure (no route) ends it at once, so passing checks cost well under a
//! millisecond and only silence costs the full timeout. Silence at the deadline is
//! final only once the caller's [`Patience`] says so: the network may still be
//! working on the request (a neighbour being resolved holds it in a queue).

use std::io::{self, IoSliceMut, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::build::netns::Netns;
use crate::model::{ConnectResult, Pmtu, Proto};
use crate::observe::cause::Cause;
use crate::observe::decode::Packet;
use crate::observe::exec::{poll_until, pollfd};

/// Outcome of a ping: how many echo requests went out and how many came back, and
/// why the rest did not (the cause for the first one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOutcome {
    /// Requests the kernel accepted (a send refused at once, e.g. for lack of a
    /// route, is not counted but recorded in `error`).
    pub sent: u32,
    /// Requests answered by an echo reply.
    pub received: u32,
    /// e.g. no reply within 200ms, local error ENETUNREACH.
    pub error: Option<Cause>,
}

/// Asked when a wait's deadline passes in silence: `Some(later)` to keep waiting
/// until `later` (the network may still deliver a late answer), `None` to conclude
/// that silence is the answer.
pub trait Patience {
    fn more(&mut self) -> Option<Instant>;

    /// A descriptor that becomes readable when the kernel may have dropped a packet of
    /// the wait ([`Patience::lost`] tells), polled beside the socket; asked before the
    /// probe sends.
    fn news(&self) -> Option<RawFd> {
        None
    }

    /// Whether a packet of the probe's exchange (`leg_of` says which packets are, and
    /// whether each is the request or the answer) was dropped for good since the wait
    /// began: then no answer can come and silence is final at once.
    fn lost(&mut self, _leg_of: &dyn Fn(&Packet) -> Option<Leg>) -> bool {
        false
    }

    /// The probe has seen what it looked for, with a socket bound to `local` (a TCP
    /// or UDP probe's ephemeral port): what the kernel does from here on (the socket's
    /// close, a server's late answer to it) is the probe's teardown, not its
    /// observation. Told before the socket closes.
    fn concluded(&mut self, _local: Option<SocketAddr>) {}
}

/// The address and port a socket is bound to.
fn local_of(socket: &Socket) -> Option<SocketAddr> {
    socket.local_addr().ok()?.as_socket()
}

/// A packet of a probe's exchange: the request it sent, or the answer it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    Request,
    Answer,
}

/// Silence at the deadline is final.
pub struct Impatient;

impl Patience for Impatient {
    fn more(&mut self) -> Option<Instant> {
        None
    }
}

/// Poll `fds` until one is ready (`true`) or silence is final (`false`): at
/// `deadline`, and at every later deadline it grants, `patience` decides.
fn poll_patiently(fds: &mut [libc::pollfd], mut deadline: Instant, patience: &mut dyn Patience) -> io::Result<bool> {
    loop {
        if poll_until(fds, Some(deadline))? {
            return Ok(true);
        }
        match patience.more() {
            Some(later) => deadline = later,
            // An answer may have arrived while `patience` looked: a last look, without waiting.
            None => return poll_until(fds, Some(Instant::now())),
        }
    }
}

/// Whether a `proto` socket in `ns` may bind `addr` now, with the addresses and
/// sysctls in force (`ip_nonlocal_bind`, `ip_unprivileged_port_start`, ...): `Ok(())`
/// or the errno of the refusal. The socket is closed at once.
pub fn try_bind(ns: &Netns, addr: SocketAddr, proto: Proto) -> io::Result<Result<(), Errno>> {
    let kind = match proto {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
    };
    let socket = ns.run(|| Socket::new(Domain::for_address(addr), kind, None))?;
    Ok(socket.bind(&addr.into()).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0))))
}

/// Send `count` ICMP echo requests from inside `ns` to `to` (IPv4 or IPv6), from
/// `source` and out of interface `dev` when given (`ping -I`), waiting `timeout` for
/// each reply, then as long as `patience` grants. An ICMP error or
/// ENETUNREACH/EHOSTUNREACH ends the wait for that request at once.
///
/// Requests go out one after the other, each as soon as the previous one is settled.
/// Uses an ICMP datagram socket (needs `net.ipv4.ping_group_range`, which the
/// [baseline](crate::build::baseline) sets) and falls back to a raw socket (needs
/// CAP_NET_RAW) where the range does not allow it. Only a failure to open the socket
/// is an `Err`; everything the network does is in the outcome.
pub fn ping(
    ns: &Netns,
    to: IpAddr,
    source: Option<IpAddr>,
    dev: Option<&str>,
    count: u32,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<PingOutcome> {
    ping_with(ns, to, &EchoOptions { source, dev, ..EchoOptions::default() }, count, timeout, patience)
}

/// How echo requests are sent, besides where to: the options of `ping(8)` a scenario
/// can give. The defaults are the kernel's (and netrig's fixed identifier and payload).
#[derive(Debug, Clone, Default)]
pub struct EchoOptions<'a> {
    pub source: Option<IpAddr>,
    pub dev: Option<&'a str>,
    /// Bytes of ICMP data (`ping -s`).
    pub size: Option<usize>,
    /// `IP_TTL` / `IPV6_UNICAST_HOPS`.
    pub ttl: Option<u8>,
    /// `IP_TOS` / `IPV6_TCLASS`.
    pub tos: Option<u8>,
    /// `IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER`.
    pub pmtu: Option<Pmtu>,
    /// `SO_BROADCAST`.
    pub broadcast: bool,
    /// Least time between two requests.
    pub interval: Option<Duration>,
    /// Echo identifier.
    pub id: Option<u16>,
}

/// [`ping`] with every option.
pub fn ping_with(
    ns: &Netns,
    to: IpAddr,
    options: &EchoOptions<'_>,
    count: u32,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<PingOutcome> {
    if let Some(source) = options.source.filter(|s| s.is_ipv4() != to.is_ipv4()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ping from {source} to {to}: the addresses are of different families"),
        ));
    }
    let socket = ns.run(|| EchoSocket::open(to, options)).map_err(|e| with_context(e, &format!("ping {to}")))?;
    let mut outcome = PingOutcome { sent: 0, received: 0, error: None };
    let mut previous: Option<Instant> = None;
    for i in 0..count {
        // Pacing the scenario asked for (`ping -i`), not a wait for the kernel.
        if let (Some(interval), Some(previous)) = (options.interval, previous) {
            std::thread::sleep((previous + interval).saturating_duration_since(Instant::now()));
        }
        previous = Some(Instant::now());
        // Requests are settled one at a time, so sequence numbers may wrap.
        outcome.record(socket.echo(i as u16, timeout, patience));
    }
    // The echo identifier is fixed: the socket's own port tells nothing more.
    patience.concluded(None);
    Ok(outcome)
}

/// What became of one echo request.
enum Echo {
    Answered,
    /// Sent, but no reply: why.
    Unanswered(Cause),
    /// The kernel refused to send it: why.
    NotSent(Cause),
}

impl PingOutcome {
    fn record(&mut self, echo: Echo) {
        let why = match echo {
            Echo::Answered => {
                self.sent += 1;
                self.received += 1;
                return;
            }
            Echo::Unanswered(why) => {
                self.sent += 1;
                why
            }
            Echo::NotSent(why) => why,
        };
        self.error.get_or_insert(why);
    }
}

/// ICMP echo message types (RFC 792, RFC 4443).
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// Payload of every request: fixed, so captures of the same scenario are identical.
const PAYLOAD: &[u8] = b"netrig echo 0123456789abcdef";

/// An ICMP socket bound to a namespace that sends echo requests to one address.
struct EchoSocket {
    socket: Socket,
    to: SockAddr,
    v6: bool,
    /// A raw socket sees every ICMP packet of the namespace (IPv4: with its IP header)
    /// and must pick replies by identifier; a datagram socket gets only the replies to
    /// its own identifier, which the kernel assigns.
    raw: bool,
    /// Identifier written into requests (a datagram socket replaces it).
    id: u16,
    /// ICMP data of every request.
    payload: Vec<u8>,
}

impl EchoSocket {
    /// Open the socket; to be called on a thread inside the namespace.
    fn open(to: IpAddr, options: &EchoOptions<'_>) -> io::Result<EchoSocket> {
        let (source, dev) = (options.source, options.dev);
        let v6 = to.is_ipv6();
        let (domain, protocol) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(socket) => (socket, false),
            // Our group is outside net.ipv4.ping_group_range: try CAP_NET_RAW instead.
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => (Socket::new(domain, Type::RAW, Some(protocol))?, true),
            Err(e) => return Err(e),
        };
        report_errors_in_detail(&socket, v6)?;
        if let Some(dev) = dev {
            socket.bind_device(Some(dev.as_bytes())).map_err(|e| with_context(e, &format!("bind to device {dev}")))?;
        }
        set_echo_options(&socket, v6, options)?;
        // Binding a datagram ICMP socket to a "port" chooses its echo identifier: a
        // fixed one keeps captures and reports identical from run to run. Pings of
        // one node run one at a time, and nodes are separate namespaces.
        let id = options.id.unwrap_or(ECHO_IDENTIFIER);
        if source.is_some() || !raw {
            let local = source.unwrap_or(if v6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() });
            let port = if raw { 0 } else { id };
            socket
                .bind(&SocketAddr::new(local, port).into())
                .map_err(|e| with_context(e, &format!("bind to {local}")))?;
        }
        socket.set_nonblocking(true)?;
        let payload = match options.size {
            Some(size) => PAYLOAD.iter().copied().cycle().take(size).collect(),
            None => PAYLOAD.to_vec(),
        };
        Ok(EchoSocket { socket, to: SocketAddr::new(to, 0).into(), v6, raw, id, payload })
    }

    /// Send request `seq` and wait for its reply, an error about it, or final silence.
    fn echo(&self, seq: u16, timeout: Duration, patience: &mut dyn Patience) -> Echo {
        // Asked before sending: the patience notes what it compares drops with then.
        let news = patience.news().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        if let Err(e) = self.socket.send_to(&self.request(seq), &self.to) {
            return Echo::NotSent(local_cause(&e));
        }
        let deadline = Instant::now() + timeout;
        loop {
            // Past the deadline the tracer no longer wakes the wait: drops that keep
            // coming must not keep it from ever reaching its patience.
            let news = news.filter(|_| Instant::now() < deadline);
            let mut fds = [pollfd(self.socket.as_fd(), libc::POLLIN)].into_iter().chain(news).collect::<Vec<_>>();
            match poll_patiently(&mut fds, deadline, patience) {
                Ok(true) => {}
                Ok(false) => return Echo::Unanswered(Cause::NoReply(timeout)),
                Err(e) => return Echo::Unanswered(local_cause(&e)),
            }
            // An answer that came is taken first: a drop of some other copy is no loss.
            if fds[0].revents == 0
                && fds.get(1).is_some_and(|news| news.revents != 0)
                && patience.lost(&|p| self.leg_of(p, seq))
            {
                return Echo::Unanswered(Cause::Dropped);
            }
            if fds[0].revents & libc::POLLERR != 0
                && let Some(why) = self.take_error(seq)
            {
                return Echo::Unanswered(why);
            }
            if fds[0].revents & libc::POLLIN != 0 && self.take_reply(seq) {
                return Echo::Answered;
            }
        }
    }

    fn request(&self, seq: u16) -> Vec<u8> {
        let echo = IcmpEchoHeader { id: self.id, seq };
        // The kernel computes the ICMPv6 checksum itself (it covers the addresses).
        let header = if self.v6 {
            Icmpv6Header::new(Icmpv6Type::EchoRequest(echo)).to_bytes().to_vec()
        } else {
            Icmpv4Header::with_checksum(Icmpv4Type::EchoRequest(echo), &self.payload).to_bytes().to_vec()
        };
        [header.as_slice(), &self.payload].concat()
    }

    /// Read what has arrived; `true` if the reply to `seq` was among it.
    fn take_reply(&self, seq: u16) -> bool {
        let reply_type = if self.v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        let mut buf = [0u8; 2048];
        loop {
            match (&self.socket).read(&mut buf) {
                Ok(n) => {
                    if self.icmp_part(&buf[..n]).and_then(echo_fields).is_some_and(|f| self.is_ours(f, reply_type, seq))
                    {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Would block: all read. Any other error is a pending ICMP error the
                // read consumed; it is also on the error queue, which decides.
                Err(_) => return false,
            }
        }
    }

    /// Drain the error queue; the first error about request `seq` that means the
    /// request cannot be answered, described. Advice (a redirect) is dropped, and so
    /// is an error about an earlier request (which arrived after its wait ended).
    fn take_error(&self, seq: u16) -> Option<Cause> {
        let request_type = if self.v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
        let mut found = None;
        let mut queued = false;
        while let Some((error, request)) = next_queued_error(self.socket.as_fd()) {
            queued = true;
            let about_seq = echo_fields(&request).is_some_and(|f| self.is_ours(f, request_type, seq));
            if about_seq && ends_the_wait(&error) && found.is_none() {
                found = Some(error);
            }
        }
        // Draining the queue clears SO_ERROR. Without a queued copy (the kernel could
        // not allocate one) SO_ERROR is all there is; reading it also stops POLLERR
        // from waking us again and again. EREMOTEIO is what ping sockets set for
        // advice (redirect, source quench), which does not end the wait either.
        let pending = self.socket.take_error().ok().flatten();
        found.or_else(|| {
            pending.filter(|e| !queued && e.raw_os_error() != Some(libc::EREMOTEIO)).map(|e| local_cause(&e))
        })
    }

    /// The ICMP message in a received packet: raw IPv4 sockets include the IP header.
    fn icmp_part<'a>(&self, packet: &'a [u8]) -> Option<&'a [u8]> {
        if self.raw && !self.v6 {
            let header_len = usize::from(packet.first()? & 0x0f) * 4;
            packet.get(header_len..)
        } else {
            Some(packet)
        }
    }

    /// Which leg of our exchange `p` is (request `seq` or its reply), as the drop
    /// tracer decoded it; `None` for any other packet.
    fn leg_of(&self, p: &Packet, seq: u16) -> Option<Leg> {
        let to = self.to.as_socket().map(|a| a.ip());
        let (request, reply) =
            if self.v6 { (ECHO_REQUEST_V6, ECHO_REPLY_V6) } else { (ECHO_REQUEST_V4, ECHO_REPLY_V4) };
        let (Some(ip), Some(icmp)) = (&p.ip, &p.icmp) else { return None };
        if icmp.kind.v6 != self.v6 || icmp.seq != Some(seq) || icmp.id != Some(self.id) {
            return None;
        }
        match icmp.kind.number {
            n if n == request && Some(ip.dst) == to => Some(Leg::Request),
            n if n == reply && Some(ip.src) == to => Some(Leg::Answer),
            _ => None,
        }
    }

    /// Whether echo header `fields` is of `icmp_type` and belongs to our request `seq`.
    fn is_ours(&self, (icmp_type, id, fields_seq): (u8, u16, u16), expected_type: u8, seq: u16) -> bool {
        icmp_type == expected_type && fields_seq == seq && (!self.raw || id == self.id)
    }
}

/// The header fields and socket behaviour `options` ask for.
fn set_echo_options(socket: &Socket, v6: bool, options: &EchoOptions<'_>) -> io::Result<()> {
    fn named(what: &'static str) -> impl Fn(io::Error) -> io::Error {
        move |e| with_context(e, what)
    }
    if let Some(ttl) = options.ttl {
        let set = if v6 { socket.set_unicast_hops_v6(ttl.into()) } else { socket.set_ttl_v4(ttl.into()) };
        set.map_err(named("set the TTL"))?;
    }
    if let Some(tos) = options.tos {
        let set = if v6 { socket.set_tclass_v6(tos.into()) } else { socket.set_tos_v4(tos.into()) };
        set.map_err(named("set the TOS"))?;
    }
    if options.broadcast {
        socket.set_broadcast(true).map_err(named("allow broadcast"))?;
    }
    if let Some(pmtu) = options.pmtu {
        let (level, name) =
            if v6 { (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER) } else { (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) };
        let value: libc::c_int = pmtu.sockopt();
        // SAFETY: a c_int option of the right size on a socket we own.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(with_context(io::Error::last_os_error(), "set path MTU discovery"));
        }
    }
    Ok(())
}

/// `(type, identifier, sequence)` of the ICMP echo header at the start of `icmp`.
fn echo_fields(icmp: &[u8]) -> Option<(u8, u16, u16)> {
    let header = icmp.get(..8)?;
    Some((header[0], u16::from_be_bytes([header[4], header[5]]), u16::from_be_bytes([header[6], header[7]])))
}

/// Identifiers for raw-socket pings: distinct between concurrent pings of this process
/// and offset from its pid, which is what `ping(8)` processes would use.
/// Echo identifier of every request ("NR").
const ECHO_IDENTIFIER: u16 = 0x4e52;

/// Queue every error about what `socket` sends (`IP_RECVERR`): an ICMP error
/// (unreachable, ARP failure...) then arrives on the socket's error queue with its
/// type, code and sender and the start of the packet it refers to, and wakes `poll`.
fn report_errors_in_detail(socket: &Socket, v6: bool) -> io::Result<()> {
    if v6 {
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)?;
    } else {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(())
}

/// One entry of `socket`'s error queue: the error and the start of the packet it is
/// about.
fn next_queued_error(socket: BorrowedFd<'_>) -> Option<(Cause, Vec<u8>)> {
    let mut packet = [0u8; 64];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let mut iov = [IoSliceMut::new(&mut packet)];
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags).ok()?;
    let len = msg.bytes;
    let error = msg.cmsgs().ok()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::Ipv4RecvErr(ee, from) => {
            Some(queued_cause(ee, from.map(|a| Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)).into())))
        }
        ControlMessageOwned::Ipv6RecvErr(ee, from) => {
            Some(queued_cause(ee, from.map(|a| Ipv6Addr::from(a.sin6_addr.s6_addr).into())))
        }
        _ => None,
    })?;
    Some((error, packet[..len.min(packet.len())].to_vec()))
}

/// The cause an entry of a socket's error queue (`IP_RECVERR`) gives: an ICMP error
/// with its sender, or an error of the node itself.
fn queued_cause(ee: libc::sock_extended_err, from: Option<IpAddr>) -> Cause {
    let errno = Errno::from_raw(ee.ee_errno as i32);
    match ee.ee_origin {
        libc::SO_EE_ORIGIN_ICMP | libc::SO_EE_ORIGIN_ICMP6 => Cause::Icmp {
            v6: ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6,
            icmp_type: ee.ee_type,
            code: ee.ee_code,
            from,
            errno,
        },
        _ => Cause::Local(errno),
    }
}

/// ICMPv4 messages that advise the sender but do not mean the packet was lost: a
/// source quench (4, deprecated) and a redirect (5). The kernel queues them on a ping
/// socket's error queue like real errors. ICMPv6 has no such case: its redirect is a
/// neighbour discovery message, never delivered to sockets.
const ICMP_ADVICE_V4: [u8; 2] = [4, 5];

/// Whether the cause means the request will not be answered: everything but ICMPv4
/// advice.
fn ends_the_wait(cause: &Cause) -> bool {
    !matches!(cause, Cause::Icmp { v6: false, icmp_type, .. } if ICMP_ADVICE_V4.contains(icmp_type))
}

/// An error the kernel returned to one of our calls.
fn local_cause(error: &io::Error) -> Cause {
    Cause::Local(Errno::from_raw(error.raw_os_error().unwrap_or(0)))
}

/// "Network is unreachable (ENETUNREACH)" for OS errors, the error's text otherwise.
fn describe(error: &io::Error) -> String {
    error.raw_os_error().map_or_else(|| error.to_string(), describe_errno)
}

fn describe_errno(errno: i32) -> String {
    let errno = Errno::from_raw(errno);
    format!("{} ({errno:?})", errno.desc())
}

fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// TCP connect from inside `ns` to `to`, classified: connected, refused (RST),
/// unreachable (ENETUNREACH/EHOSTUNREACH/ICMP error), or timeout after `timeout` and
/// what `patience` grants. Other failures (e.g. EPERM from a local firewall rule) are
/// returned as errors.
pub fn connect(
    ns: &Netns,
    to: SocketAddr,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<ConnectResult> {
    Ok(match connect_by(ns, to, Instant::now() + timeout, patience)? {
        Ok(socket) => {
            patience.concluded(local_of(&socket));
            ConnectResult::Connected
        }
        Err(result) => result,
    })
}

/// What a peer sent first on a TCP connection ([`first_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLine {
    /// Everything up to the first `\n`, line end (`\r\n` or `\n`) removed.
    Line(String),
    /// No whole line by the deadline, or before the peer closed: what did arrive.
    Partial { received: Vec<u8>, closed: bool },
}

/// The longest first line read: a banner is one short line.
const FIRST_LINE_MAX: usize = 4096;

/// Connect from inside `ns` to `to` as [`connect`] does and read the first line the
/// peer sends (a server's banner), all by `timeout`. `Err` of the inner result: the
/// connection was not made, and why.
pub fn first_line(
    ns: &Netns,
    to: SocketAddr,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<Result<FirstLine, ConnectResult>> {
    let deadline = Instant::now() + timeout;
    let socket = match connect_by(ns, to, deadline, patience)? {
        Ok(socket) => socket,
        Err(result) => return Ok(Err(result)),
    };
    let line = read_first_line(&socket, deadline).map_err(|e| with_context(e, &format!("read from {to}")));
    patience.concluded(local_of(&socket));
    line.map(Ok)
}

/// [`first_line`]'s reading, on the connected `socket`.
fn read_first_line(socket: &Socket, deadline: Instant) -> io::Result<FirstLine> {
    let mut received = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Some(end) = received.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&received[..end]);
            return Ok(FirstLine::Line(line.trim_end_matches('\r').to_string()));
        }
        if received.len() >= FIRST_LINE_MAX {
            return Ok(FirstLine::Partial { received, closed: false });
        }
        match (&*socket).read(&mut buf) {
            Ok(0) => return Ok(FirstLine::Partial { received, closed: true }),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !poll_until(&mut [pollfd(socket.as_fd(), libc::POLLIN)], Some(deadline))? {
                    return Ok(FirstLine::Partial { received, closed: false });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A TCP socket of `ns` connected to `to` by `deadline` (non-blocking), or why not:
/// the classification and the errors of [`connect`].
pub(crate) fn connect_by(
    ns: &Netns,
    to: SocketAddr,
    deadline: Instant,
    patience: &mut dyn Patience,
) -> io::Result<Result<Socket, ConnectResult>> {
    let socket = ns.run(|| open_socket(to, Type::STREAM, Protocol::TCP))?;
    let result = match socket.connect(&to.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            // Writable once the handshake is over, either way; SO_ERROR tells which.
            let mut fds = [pollfd(socket.as_fd(), libc::POLLOUT)];
            if !poll_patiently(&mut fds, deadline, patience)? {
                patience.concluded(local_of(&socket));
                return Ok(Err(ConnectResult::Timeout));
            }
            socket.take_error()?.map_or(Ok(()), Err)
        }
        other => other,
    };
    match result {
        Ok(()) => Ok(Ok(socket)),
        Err(e) => {
            patience.concluded(local_of(&socket));
            classify_connect_error(&e).map(Err).ok_or_else(|| with_context(e, &format!("connect to {to}")))
        }
    }
}

/// What became of a TCP transfer ([`transfer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOutcome {
    /// Bytes the kernel took from us before the end or the failure.
    pub sent: u64,
    /// How many bytes the listener says it received, once we closed our sending side.
    pub counted: Option<u64>,
    /// Why the transfer did not complete: `connect: refused`, `timed out after 2s`, ...
    pub error: Option<String>,
}

/// Connect from inside `ns` to a TCP [`Listener`] at `to`, send `bytes` bytes, shut
/// down our sending side and read the listener's count of what it received, all by
/// `timeout` (the connection may take longer where `patience` grants it). What the
/// network does is in the outcome; only local failures (the socket cannot be opened,
/// a firewall rule refuses it with EPERM) are errors.
pub fn transfer(
    ns: &Netns,
    to: SocketAddr,
    bytes: u64,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<TransferOutcome> {
    let deadline = Deadline { at: Instant::now() + timeout, of: timeout };
    let mut outcome = TransferOutcome { sent: 0, counted: None, error: None };
    let stream: TcpStream = match connect_by(ns, to, deadline.at, patience)? {
        Ok(socket) => socket.into(),
        Err(result) => {
            outcome.error = Some(format!("connect: {result}"));
            return Ok(outcome);
        }
    };
    let counted = send_all(&stream, bytes, &deadline, &mut outcome.sent).and_then(|()| {
        stream.shutdown(Shutdown::Write)?;
        read_count(&stream, &deadline)
    });
    patience.concluded(stream.local_addr().ok());
    match counted {
        Ok(count) => outcome.counted = Some(count),
        Err(e) => outcome.error = Some(describe(&e)),
    }
    Ok(outcome)
}

/// The end of a wait, and the timeout it came from (for the message).
struct Deadline {
    at: Instant,
    of: Duration,
}

impl Deadline {
    /// Wait until `fd` is ready for `events`; a `TimedOut` error once the deadline passes.
    fn wait(&self, fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<()> {
        if poll_until(&mut [pollfd(fd, events)], Some(self.at))? {
            return Ok(());
        }
        let message = format!("timed out after {}", humantime::format_duration(self.of));
        Err(io::Error::new(io::ErrorKind::TimedOut, message))
    }
}

/// Send `bytes` bytes on the non-blocking `stream`, counting them into `sent`.
fn send_all(stream: &TcpStream, bytes: u64, deadline: &Deadline, sent: &mut u64) -> io::Result<()> {
    // A fixed filler: the listener counts bytes, it does not look at them.
    let chunk = [b'n'; 64 << 10];
    let socket = SockRef::from(stream);
    while *sent < bytes {
        let len = (bytes - *sent).min(chunk.len() as u64) as usize;
        // MSG_NOSIGNAL: a reset connection is an error to report, not a SIGPIPE.
        match socket.send_with_flags(&chunk[..len], libc::MSG_NOSIGNAL) {
            Ok(n) => *sent += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => deadline.wait(stream.as_fd(), libc::POLLOUT)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read a [`Listener`]'s answer to the end: its count of the bytes it received.
fn read_count(stream: &TcpStream, deadline: &Deadline) -> io::Result<u64> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => break,
            // A count is a few digits: anything longer is not a listener's answer.
            Ok(n) if answer.len() + n > buf.len() => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => deadline.wait(stream.as_fd(), libc::POLLIN)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.trim_end().parse().map_err(|_| {
        let what =
            if answer.is_empty() { "closed without a byte count".to_string() } else { format!("answered {text:?}") };
        io::Error::new(io::ErrorKind::InvalidData, format!("the peer {what}: is it a netrig `listen: [tcp/PORT]`?"))
    })
}

fn classify_connect_error(error: &io::Error) -> Option<ConnectResult> {
    match error.raw_os_error()? {
        libc::ECONNREFUSED => Some(ConnectResult::Refused),
        libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EHOSTDOWN => Some(ConnectResult::Unreachable),
        // The kernel gave up retrying SYNs before our deadline.
        libc::ETIMEDOUT => Some(ConnectResult::Timeout),
        _ => None,
    }
}

/// A non-blocking socket of `addr`'s family; to be called inside the namespace.
fn open_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Send one UDP datagram from inside `ns` to `to` and wait `timeout`, then as long as
/// `patience` grants, for one datagram back, which is returned, or for an error.
/// `Ok(Err(cause))`: nothing came back, and why (silence, an ICMP error such as port
/// unreachable, or the kernel refusing to send). Only a socket that cannot be opened
/// is an `Err`.
///
/// The socket is connected to `to`, so only a reply from exactly `to` counts (a
/// listener bound to a wildcard address answers from the address the kernel picks
/// for the route back, which may differ).
pub fn udp_exchange(
    ns: &Netns,
    to: SocketAddr,
    payload: &[u8],
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<Result<Vec<u8>, Cause>> {
    udp_exchange_from(ns, None, to, payload, timeout, patience)
}

/// [`udp_exchange`] from a chosen local address and port (`from`, bound before
/// anything is sent; port 0: any); the kernel's refusal to bind is an `Err`.
pub fn udp_exchange_from(
    ns: &Netns,
    from: Option<SocketAddr>,
    to: SocketAddr,
    payload: &[u8],
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<Result<Vec<u8>, Cause>> {
    let socket = ns
        .run(|| {
            let socket = open_socket(to, Type::DGRAM, Protocol::UDP)?;
            report_errors_in_detail(&socket, to.is_ipv6())?;
            if let Some(from) = from {
                socket.bind(&from.into()).map_err(|e| with_context(e, &format!("bind to {from}")))?;
            }
            Ok(socket)
        })
        .map_err(|e| with_context(e, &format!("UDP exchange with {to}")))?;
    let socket: UdpSocket = socket.into();
    if let Err(e) = socket.connect(to) {
        return Ok(Err(local_cause(&e)));
    }
    // Asked before sending: the patience notes what it compares drops with then. A
    // multicast datagram may be answered by others than a host that drops a copy.
    let news = patience.news().filter(|_| !to.ip().is_multicast());
    if let Err(e) = socket.send(payload) {
        return Ok(Err(local_cause(&e)));
    }
    let local = socket.local_addr()?;
    let answer = udp_answer(&socket, (local, to), news, timeout, patience);
    patience.concluded(Some(local));
    answer
}

/// The datagram that comes back on `socket` (bound to `local`, connected to `to`)
/// after its one was sent, or why none: silence, an error, or the datagram or its
/// answer dropped for good (the tracer's `news` wakes the wait, as for a ping).
fn udp_answer(
    socket: &UdpSocket,
    (local, to): (SocketAddr, SocketAddr),
    news: Option<RawFd>,
    timeout: Duration,
    patience: &mut dyn Patience,
) -> io::Result<Result<Vec<u8>, Cause>> {
    let deadline = Instant::now() + timeout;
    let leg_of = |p: &Packet| {
        let (Some(ip), Some(udp)) = (&p.ip, &p.udp) else { return None };
        if ip.dst == to.ip() && udp.dst_port == to.port() && udp.src_port == local.port() {
            Some(Leg::Request)
        } else if ip.src == to.ip() && udp.src_port == to.port() && udp.dst_port == local.port() {
            Some(Leg::Answer)
        } else {
            None
        }
    };
    loop {
        // Past the deadline the tracer no longer wakes the wait: drops that keep
        // coming must not keep it from ever reaching its patience.
        let news = news.filter(|_| Instant::now() < deadline);
        let news = news.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        let mut fds = [pollfd(socket.as_fd(), libc::POLLIN)].into_iter().chain(news).collect::<Vec<_>>();
        if !poll_patiently(&mut fds, deadline, patience)? {
            return Ok(Err(Cause::NoReply(timeout)));
        }
        if fds[0].revents != 0 {
            break;
        }
        if fds.get(1).is_some_and(|news| news.revents != 0) && patience.lost(&leg_of) {
            return Ok(Err(Cause::Dropped));
        }
    }
    // One datagram was sent: every queued error is about it.
    if let Some((cause, _)) = next_queued_error(socket.as_fd()) {
        return Ok(Err(cause));
    }
    let mut buf = vec![0u8; 65536];
    Ok(match socket.recv(&mut buf) {
        Ok(len) => {
            buf.truncate(len);
            Ok(buf)
        }
        Err(e) => Err(local_cause(&e)),
    })
}

/// A listening socket held open in a node for the whole run, served by a background
/// thread. UDP: every datagram is echoed back to its sender. TCP: every connection is
/// accepted and what it sends is counted; when the peer shuts down its sending side,
/// the count goes back in decimal with a newline (`1048576\n`) and the connection is
/// closed. A peer that only connects and closes (a `connect` check) is thus accepted
/// and closed, as by any server, without a count. Dropping the listener closes every socket and stops
/// the thread. [`Listener::with_banner`] greets every TCP connection first.
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    /// Write end of a pipe whose read end the worker polls: dropping it wakes the
    /// worker (POLLHUP), which then returns and closes the socket.
    stop: Option<OwnedFd>,
    worker: Option<JoinHandle<()>>,
}

/// The socket a [`Listener`] serves.
#[derive(Debug)]
enum Served {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Served {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Served::Tcp(listener) => listener.local_addr(),
            Served::Udp(socket) => socket.local_addr(),
        }
    }
}

impl Listener {
    /// Listen on `addr:port` inside `ns`: without `addr`, on every address, IPv4 and
    /// IPv6 alike; port 0 picks a free port (see [`Listener::local_addr`]).
    pub fn start(ns: &Netns, proto: Proto, addr: Option<IpAddr>, port: u16) -> io::Result<Listener> {
        Self::serving(ns, proto, addr, port, None)
    }

    /// A TCP listener as [`Listener::start`] makes, which also sends `banner` on every
    /// connection as soon as it accepts it, as an SSH or SMTP server greets.
    pub fn with_banner(ns: &Netns, addr: Option<IpAddr>, port: u16, banner: &str) -> io::Result<Listener> {
        Self::serving(ns, Proto::Tcp, addr, port, Some(banner.as_bytes().to_vec()))
    }

    fn serving(
        ns: &Netns,
        proto: Proto,
        addr: Option<IpAddr>,
        port: u16,
        banner: Option<Vec<u8>>,
    ) -> io::Result<Listener> {
        let at = SocketAddr::new(addr.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), port);
        let served = ns.run(|| bind_listening(proto, at, addr.is_none())).map_err(|e| {
            with_context(e, &format!("listen on {} {at}", if matches!(proto, Proto::Tcp) { "TCP" } else { "UDP" }))
        })?;
        let local_addr = served.local_addr()?;
        let (stop_rx, stop_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let worker = std::thread::Builder::new()
            .name(format!("netrig-listen-{local_addr}"))
            .spawn(move || serve(served, stop_rx, banner))?;
        Ok(Listener { local_addr, stop: Some(stop_tx), worker: Some(worker) })
    }

    /// The address and port actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(worker) = self.worker.take() {
            // The worker does not panic; if it did, there is nothing left to clean up.
            let _ = worker.join();
        }
    }
}

/// Bind (and for TCP listen) on `at`; to be called inside the namespace.
fn bind_listening(proto: Proto, at: SocketAddr, any_family: bool) -> io::Result<Served> {
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = open_socket(at, ty, protocol)?;
    if any_family {
        // One IPv6 wildcard socket also takes IPv4 (as ::ffff:a.b.c.d).
        socket.set_only_v6(false)?;
    }
    match proto {
        Proto::Tcp => {
            // A step may restart a listener while old connections sit in TIME_WAIT.
            socket.set_reuse_address(true)?;
            socket.bind(&at.into())?;
            socket.listen(128)?;
            Ok(Served::Tcp(socket.into()))
        }
        Proto::Udp => {
            socket.bind(&at.into())?;
            Ok(Served::Udp(socket.into()))
        }
    }
}

/// The listener's worker: serve the socket until the stop pipe hangs up.
///
/// Everything is non-blocking: serve what is ready, then poll again. Errors (a
/// connection reset before accept, an ICMP error for an earlier echo) concern one peer
/// only, so they end that peer's service, not the listener's.
fn serve(served: Served, stop: OwnedFd, banner: Option<Vec<u8>>) {
    match served {
        Served::Tcp(listener) => serve_tcp(&listener, &stop, banner.as_deref()),
        Served::Udp(socket) => serve_udp(&socket, &stop),
    }
}

/// Wait until one of `fds` is ready; `false` once the stop pipe (`fds[0]`) hangs up.
fn keep_serving(fds: &mut [libc::pollfd]) -> bool {
    poll_until(fds, None).is_ok() && fds[0].revents == 0
}

fn serve_udp(socket: &UdpSocket, stop: &OwnedFd) {
    let mut buf = vec![0u8; 65536];
    while keep_serving(&mut [pollfd(stop.as_fd(), libc::POLLIN), pollfd(socket.as_fd(), libc::POLLIN)]) {
        while let Ok((len, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..len], peer);
        }
    }
}

fn serve_tcp(listener: &TcpListener, stop: &OwnedFd, banner: Option<&[u8]>) {
    let mut peers: Vec<CountingPeer> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mut fds = vec![pollfd(stop.as_fd(), libc::POLLIN), pollfd(listener.as_fd(), libc::POLLIN)];
        fds.extend(peers.iter().map(|peer| pollfd(peer.stream.as_fd(), libc::POLLIN)));
        if !keep_serving(&mut fds) {
            return;
        }
        // Serve the peers that are ready, keeping those whose connection goes on.
        let ready: Vec<bool> = fds[2..].iter().map(|fd| fd.revents != 0).collect();
        let mut ready = ready.into_iter();
        peers.retain_mut(|peer| !ready.next().unwrap_or(false) || peer.serve(&mut buf));
        while let Ok((stream, _)) = listener.accept() {
            // Accepted sockets do not inherit O_NONBLOCK.
            if stream.set_nonblocking(true).is_ok() {
                // A banner is short (validation bounds it): the empty send buffer of a new
                // connection takes it whole in one non-blocking send.
                if let Some(banner) = banner {
                    let _ = SockRef::from(&stream).send_with_flags(banner, libc::MSG_NOSIGNAL);
                }
                peers.push(CountingPeer { stream, received: 0 });
            }
        }
    }
}

/// One accepted TCP connection and how many bytes it has sent so far.
struct CountingPeer {
    stream: TcpStream,
    received: u64,
}

impl CountingPeer {
    /// Read what has arrived; `false` once the connection is over (answered or broken).
    fn serve(&mut self, buf: &mut [u8]) -> bool {
        loop {
            match (&self.stream).read(buf) {
                Ok(0) => {
                    // A peer that sent nothing (a `connect` probe) asked for no count:
                    // it closed its socket whole, so a count would only be dropped there
                    // (a drop the report would show, and a `dropped` check would see).
                    if self.received > 0 {
                        self.answer();
                    }
                    return false;
                }
                Ok(n) => self.received += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    /// The count, in decimal with a newline. It fits the empty send buffer of a
    /// connection that never sent anything, so one non-blocking send takes it whole.
    fn answer(&self) {
        let count = format!("{}\n", self.received);
        let _ = SockRef::from(&self.stream).send_with_flags(count.as_bytes(), libc::MSG_NOSIGNAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::netns::fixture::{ip, ns_path};
    use crate::{build::baseline, observe::exec};

    const A4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    const B6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    const SECOND: Duration = Duration::from_secs(1);
    /// Deadline for exchanges expected to succeed (which then return at once): long
    /// enough for one neighbour discovery retransmit (1 s), should `pair`'s settling
    /// lose its race with the linkwatch worker (seen once in 300 runs under load).
    const PATIENT: Duration = Duration::from_secs(3);
    const SHORT: Duration = Duration::from_millis(200);

    fn sh(ns: &Netns, line: &str) {
        let out = exec::run(ns, line, Duration::from_secs(5)).unwrap();
        assert!(out.status.success(), "`{line}`: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Two namespaces joined by veth `va`/`vb`: 10.0.0.1/24 + fd00::1/64 in `a`,
    /// 10.0.0.2/24 + fd00::2/64 in `b`, everything up.
    fn pair(with_baseline: bool) -> (Netns, Netns) {
        let (a, b) = (Netns::new().unwrap(), Netns::new().unwrap());
        if with_baseline {
            baseline::apply(&a).unwrap();
            baseline::apply(&b).unwrap();
        }
        // Namespace b by the fd this process holds, since it has no name.
        ip(&a, &format!("link add va type veth peer name vb netns {}", ns_path(&b)));
        for (ns, dev, v4, v6) in [(&a, "va", A4, A6), (&b, "vb", B4, B6)] {
            sh(
                ns,
                &format!(
                    "ip link set lo up && ip addr add {v4}/24 dev {dev} && \
                     ip addr add {v6}/64 dev {dev} nodad && ip link set {dev} up"
                ),
            );
        }
        // Carrier changes are applied by the kernel's linkwatch worker, later: until
        // then va has no working qdisc (its first ARP request may be dropped) and vb no
        // IPv6 multicast route (it drops neighbour solicitations). Both ends being
        // ifindex 2 makes the event "not urgent", batched for up to 1 s, and the first
        // IPv6 ping then waited for the ND retransmit in 20 runs of 20. RTM_GETLINK on
        // a device applies its pending event at once (rtnl_getlink), so ask for both.
        for (ns, dev) in [(&a, "va"), (&b, "vb")] {
            sh(ns, &format!("ip link show dev {dev} > /dev/null"));
        }
        (a, b)
    }

    fn answered(count: u32) -> PingOutcome {
        PingOutcome { sent: count, received: count, error: None }
    }

    fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
        let start = Instant::now();
        let value = f();
        (value, start.elapsed())
    }

    #[test]
    fn ping_across_a_veth_is_answered_at_once() {
        needs_root!();
        let (a, b) = pair(true);
        let (outcome, took) = timed(|| ping(&a, B4, None, None, 1, PATIENT, &mut Impatient).unwrap());
        assert_eq!(outcome, answered(1));
        assert!(took < Duration::from_millis(50), "{took:?}");
        assert_eq!(ping(&b, A4, Some(B4), None, 3, PATIENT, &mut Impatient).unwrap(), answered(3));
    }

    #[test]
    fn ping_over_ipv6() {
        needs_root!();
        let (a, b) = pair(true);
        assert_eq!(ping(&a, B6, None, None, 2, PATIENT, &mut Impatient).unwrap(), answered(2));
        assert_eq!(ping(&b, A6, Some(B6), None, 1, PATIENT, &mut Impatient).unwrap(), answered(1));
    }

    #[test]
    fn ping_without_a_route_fails_at_once() {
        needs_root!();
        let (a, _b) = pair(true);
        let (outcome, took) =
            timed(|| ping(&a, "10.99.0.1".parse().unwrap(), None, None, 2, PATIENT, &mut Impatient).unwrap());
        let error = Some(Cause::Local(Errno::ENETUNREACH));
        assert_eq!(outcome, PingOutcome { sent: 0, received: 0, error });
        assert!(took < Duration::from_millis(10), "{took:?}");
    }

    #[test]
    fn ping_to_a_silent_neighbour_waits_for_the_deadline() {
        needs_root!();
        let (a, _b) = pair(true);
        let (outcome, took) =
            timed(|| ping(&a, "10.0.0.77".parse().unwrap(), None, None, 1, SHORT, &mut Impatient).unwrap());
        let error = Some(Cause::NoReply(SHORT));
        assert_eq!(outcome, PingOutcome { sent: 1, received: 0, error });
        assert!(took >= SHORT && took < SECOND, "{took:?}");
    }

    #[test]
    fn an_icmp_error_ends_the_wait_at_once() {
        needs_root!();
        let (a, b) = pair(true);
        // b routes 10.60/16 to nowhere; a router (forwarding on) answers with ICMP.
        baseline::write(&b, "net.ipv4.conf.all.forwarding", "1").unwrap();
        sh(&b, "ip route add unreachable 10.60.0.0/16");
        sh(&a, "ip route add 10.60.0.0/16 via 10.0.0.2");
        let (outcome, took) =
            timed(|| ping(&a, "10.60.0.1".parse().unwrap(), None, None, 1, PATIENT, &mut Impatient).unwrap());
        let (icmp_type, code, from) = (3, 1, Some(B4));
        let error = Some(Cause::Icmp { v6: false, icmp_type, code, from, errno: Errno::EHOSTUNREACH });
        assert_eq!(outcome, PingOutcome { sent: 1, received: 0, error });
        assert!(took < Duration::from_millis(100), "{took:?}");
    }

    #[test]
    fn own_address_needs_lo_up() {
        needs_root!();
        let (a, _b) = pair(true);
        sh(&a, "ip link set lo down");
        // The request goes out to lo, which drops it: no error, only silence.
        let error = Some(Cause::NoReply(SHORT));
        assert_eq!(
            ping(&a, A4, None, None, 1, SHORT, &mut Impatient).unwrap(),
            PingOutcome { sent: 1, received: 0, error }
        );
        sh(&a, "ip link set lo up");
        assert_eq!(ping(&a, A4, None, None, 1, PATIENT, &mut Impatient).unwrap(), answered(1));
    }

    #[test]
    fn ping_falls_back_to_a_raw_socket() {
        needs_root!();
        // No baseline: ping_group_range keeps the kernel default, which allows nobody.
        let (a, b) = pair(false);
        assert_eq!(baseline::read(&a, "net.ipv4.ping_group_range").unwrap(), "1 0");
        assert_eq!(ping(&a, B4, None, None, 2, PATIENT, &mut Impatient).unwrap(), answered(2));
        assert_eq!(ping(&b, A6, None, None, 2, PATIENT, &mut Impatient).unwrap(), answered(2));
        assert_eq!(
            ping(&a, A4, None, None, 1, PATIENT, &mut Impatient).unwrap(),
            answered(1),
            "own address: skip our own request"
        );
        let outcome = ping(&a, "10.0.0.77".parse().unwrap(), None, None, 1, SHORT, &mut Impatient).unwrap();
        assert_eq!(outcome.error, Some(Cause::NoReply(SHORT)));
    }

    #[test]
    fn ping_rejects_mixed_families() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let err = ping(&ns, B6, Some(A4), None, 1, SHORT, &mut Impatient).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn connect_outcomes() {
        needs_root!();
        let (a, b) = pair(true);
        let listener = Listener::start(&b, Proto::Tcp, None, 0).unwrap();
        let port = listener.local_addr().port();
        assert_eq!(connect(&a, SocketAddr::new(B4, port), PATIENT, &mut Impatient).unwrap(), ConnectResult::Connected);
        assert_eq!(connect(&a, SocketAddr::new(B6, port), PATIENT, &mut Impatient).unwrap(), ConnectResult::Connected);
        let closed = SocketAddr::new(B4, port.wrapping_add(1).max(1));
        assert_eq!(connect(&a, closed, PATIENT, &mut Impatient).unwrap(), ConnectResult::Refused);
        let no_route = SocketAddr::new("10.99.0.1".parse().unwrap(), 80);
        assert_eq!(connect(&a, no_route, PATIENT, &mut Impatient).unwrap(), ConnectResult::Unreachable);
        let (result, took) =
            timed(|| connect(&a, SocketAddr::new("10.0.0.77".parse().unwrap(), 80), SHORT, &mut Impatient).unwrap());
        assert_eq!(result, ConnectResult::Timeout);
        assert!(took >= SHORT && took < SECOND, "{took:?}");

        // Dropping the listener closes its socket.
        drop(listener);
        assert_eq!(connect(&a, SocketAddr::new(B4, port), PATIENT, &mut Impatient).unwrap(), ConnectResult::Refused);
    }

    #[test]
    fn a_banner_listener_greets_each_connection_first() {
        needs_root!();
        let (a, b) = pair(true);
        let listener = Listener::with_banner(&b, None, 0, "SSH-2.0-netrig\r\n").unwrap();
        let to = SocketAddr::new(B4, listener.local_addr().port());
        for _ in 0..2 {
            let line = first_line(&a, to, PATIENT, &mut Impatient).unwrap();
            assert_eq!(line, Ok(FirstLine::Line("SSH-2.0-netrig".into())));
        }
        drop(listener);
        assert_eq!(first_line(&a, to, SHORT, &mut Impatient).unwrap(), Err(ConnectResult::Refused));
        // A listener without a banner sends nothing until the peer closes its side.
        let silent = Listener::start(&b, Proto::Tcp, None, 0).unwrap();
        let to = SocketAddr::new(B4, silent.local_addr().port());
        let (line, took) = timed(|| first_line(&a, to, SHORT, &mut Impatient).unwrap());
        assert_eq!(line, Ok(FirstLine::Partial { received: vec![], closed: false }));
        assert!(took >= SHORT && took < SECOND, "{took:?}");
    }

    #[test]
    fn listener_on_a_given_address_and_port() {
        needs_root!();
        let (a, b) = pair(true);
        let listener = Listener::start(&b, Proto::Tcp, Some(B4), 8080).unwrap();
        assert_eq!(listener.local_addr(), SocketAddr::new(B4, 8080));
        assert_eq!(connect(&a, SocketAddr::new(B4, 8080), PATIENT, &mut Impatient).unwrap(), ConnectResult::Connected);
        let busy = Listener::start(&b, Proto::Tcp, Some(B4), 8080).err().unwrap();
        assert_eq!(busy.kind(), io::ErrorKind::AddrInUse, "{busy}");
        let foreign = Listener::start(&b, Proto::Udp, Some(A4), 53).err().unwrap();
        assert!(foreign.to_string().starts_with("listen on UDP 10.0.0.1:53: "), "{foreign}");
    }

    #[test]
    fn tcp_transfers_are_counted_by_the_listener() {
        needs_root!();
        let (a, b) = pair(true);
        let listener = Listener::start(&b, Proto::Tcp, None, 0).unwrap();
        let port = listener.local_addr().port();
        for (to, bytes) in [(B4, 1 << 20), (B6, 1), (B4, 3 * (64 << 10) + 7)] {
            let outcome = transfer(&a, SocketAddr::new(to, port), bytes, PATIENT, &mut Impatient).unwrap();
            assert_eq!(outcome, TransferOutcome { sent: bytes, counted: Some(bytes), error: None }, "{to} {bytes}");
        }
        // Plain connects still work against the counting listener, before and after.
        assert_eq!(connect(&a, SocketAddr::new(B4, port), PATIENT, &mut Impatient).unwrap(), ConnectResult::Connected);
        // A peer that sent nothing gets no count: a `connect` probe has closed its
        // socket whole by then, and the count would be dropped there.
        let quiet = a.run(|| TcpStream::connect(SocketAddr::new(B4, port))).unwrap();
        quiet.shutdown(std::net::Shutdown::Write).unwrap();
        quiet.set_read_timeout(Some(PATIENT)).unwrap();
        let mut answer = Vec::new();
        (&quiet).read_to_end(&mut answer).unwrap();
        assert_eq!(String::from_utf8_lossy(&answer), "", "the answer to a peer that sent nothing");

        let closed = SocketAddr::new(B4, port.wrapping_add(1).max(1));
        let refused = transfer(&a, closed, 10, PATIENT, &mut Impatient).unwrap();
        assert_eq!(refused, TransferOutcome { sent: 0, counted: None, error: Some("connect: refused".into()) });
    }

    #[test]
    fn a_tcp_peer_that_never_answers_times_out() {
        needs_root!();
        let (a, b) = pair(true);
        // Listening, so the kernel completes handshakes, but nobody accepts or reads.
        let silent = b.run(|| bind_listening(Proto::Tcp, SocketAddr::new(B4, 0), false)).unwrap();
        let to = silent.local_addr().unwrap();
        let (outcome, took) = timed(|| transfer(&a, to, 1024, SHORT, &mut Impatient).unwrap());
        assert_eq!(outcome, TransferOutcome { sent: 1024, counted: None, error: Some("timed out after 200ms".into()) });
        assert!(took >= SHORT && took < SECOND, "{took:?}");
    }

    #[test]
    fn udp_echo() {
        needs_root!();
        let (a, b) = pair(true);
        let echo = Listener::start(&b, Proto::Udp, None, 0).unwrap();
        let port = echo.local_addr().port();
        for to in [B4, B6] {
            let reply = udp_exchange(&a, SocketAddr::new(to, port), b"hello", PATIENT, &mut Impatient).unwrap();
            assert_eq!(reply.as_deref(), Ok(&b"hello"[..]), "{to}");
        }
        let closed = SocketAddr::new(B4, port.wrapping_add(1).max(1));
        let refused = udp_exchange(&a, closed, b"x", PATIENT, &mut Impatient).unwrap();
        let (icmp_type, code, from) = (3, 3, Some(B4));
        assert_eq!(refused, Err(Cause::Icmp { v6: false, icmp_type, code, from, errno: Errno::ECONNREFUSED }));
        let no_route = SocketAddr::new("10.99.0.1".parse().unwrap(), port);
        let refused_here = udp_exchange(&a, no_route, b"x", PATIENT, &mut Impatient).unwrap();
        assert_eq!(refused_here, Err(Cause::Local(Errno::ENETUNREACH)));
        let (silence, took) = timed(|| {
            udp_exchange(&a, SocketAddr::new("10.0.0.77".parse().unwrap(), port), b"x", SHORT, &mut Impatient).unwrap()
        });
        assert_eq!(silence, Err(Cause::NoReply(SHORT)));
        assert!(took >= SHORT && took < SECOND, "{took:?}");
    }
}
