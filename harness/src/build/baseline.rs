//! The documented starting point of every node, and sysctl access inside a namespace.
//!
//! A fresh namespace copies the IPv4 `conf/all` and `conf/default` values of the
//! machine's own namespace (FIELD-NOTES: `devconf_inherit_init_net`), so without a
//! baseline a scenario's outcome would depend on the CI host. [`apply`] writes the
//! kernel's defaults into a new namespace before anything else happens there.
//!
//! IPv6 `conf` values are not inherited (a new namespace gets the kernel's IPv6
//! defaults) unless the machine sets `net.core.devconf_inherit_init_net` to 1; the
//! baseline does not cover that setting.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::fcntl::OFlag;

use crate::build::netns::Netns;

/// Write the baseline sysctls (kernel defaults, listed in [`BASELINE`]) into `ns`,
/// all of them, whatever the namespace had.
pub fn apply(ns: &Netns) -> io::Result<()> {
    ns.run(|| write_here(BASELINE))
}

/// [`apply`] to the namespace of the calling thread, which this process has just
/// created and nothing has changed yet (as in [`Netns::new_many`]'s setup): only
/// the keys whose value such a namespace does not have already are written
/// ([`needed_writes`]). Call [`finish`] before anything but netrig acts in the
/// namespace.
pub fn apply_to_new_here() -> io::Result<()> {
    write_here(needed_writes())
}

/// The part of [`BASELINE`] a new namespace needs written on this machine: the keys
/// whose value it does not have already.
///
/// Every new namespace starts with the same values (copied from the machine's own
/// namespace, or the kernel's defaults, as `devconf_inherit_init_net` says), and
/// most are the kernel's defaults already: on the CI machines two keys are left to
/// write (`ping_group_range` and `addr_gen_mode`).
///
/// The list is found once per process in a probe namespace and checked there: if
/// writing it does not leave every key at its baseline value (a write with a side
/// effect, such as `all/forwarding` rewriting `all/accept_redirects`), or the probe
/// fails, every key is written.
pub fn needed_writes() -> &'static [(&'static str, &'static str)] {
    static NEEDED: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    NEEDED.get_or_init(|| probe_needed_writes().unwrap_or_else(|_| BASELINE.to_vec()))
}

fn probe_needed_writes() -> io::Result<Vec<(&'static str, &'static str)>> {
    let probe = Netns::new()?;
    probe.run(|| {
        let inherited = BASELINE.iter().map(|(key, _)| read_here(key)).collect::<io::Result<Vec<_>>>()?;
        let needed: Vec<_> =
            BASELINE.iter().zip(&inherited).filter(|((_, value), now)| now != value).map(|(kv, _)| *kv).collect();
        write_here(&needed)?;
        let all_set =
            BASELINE.iter().map(|(key, value)| Ok(read_here(key)? == *value)).collect::<io::Result<Vec<_>>>()?;
        Ok(if all_set.into_iter().all(|set| set) { needed } else { BASELINE.to_vec() })
    })
}

/// Give a namespace set up with [`apply_to_new_here`] what a full [`apply`] leaves
/// beyond the values: the marks. `interfaces` are those netrig created there.
///
/// Writing an IPv4 `conf` key marks it as set. A marked `conf/default` key is copied
/// with its mark into every interface created afterwards, and a marked interface key
/// no longer follows later writes to `conf/default` (`devinet_copy_dflt_conf`). A
/// full apply writes every `conf/default` key before any interface exists, so a
/// later `sysctl -w net.ipv4.conf.default.rp_filter=1` changes no interface, on
/// every machine; without the writes it would depend on what the machine's own
/// namespace had written. This rewrites every baseline `conf/default` key and the
/// same keys of each interface in `interfaces` with the value they have now, which
/// changes no value and leaves the same marks as a full apply would have.
///
/// The marks make a difference only to later writes of `conf/default` and to
/// interfaces created later, which only a command, a step's sysctl write or a
/// person in a shell can do: the build and the run call this once per node before
/// the first of those, rather than paying ~30 writes a node in every build.
/// (An interface given an IPv4 address has every key marked already: the kernel
/// marks them all when it adds one, `ipv4_devconf_setall`.) An interface without
/// IPv4 settings (an MTU below 68) is passed over.
pub fn finish(ns: &Netns, interfaces: &[&str]) -> io::Result<()> {
    let leaves: Vec<&str> = BASELINE.iter().filter_map(|(key, _)| key.strip_prefix("net.ipv4.conf.default.")).collect();
    ns.run(|| {
        let mut dirs = SysctlDirs::default();
        // Interfaces first: rewriting `default` copies it into every unmarked one,
        // which holds the same value anyway, but need not be relied on.
        for dir in interfaces.iter().copied().chain(["default"]) {
            let keys: Vec<String> = leaves.iter().map(|leaf| format!("net/ipv4/conf/{dir}/{leaf}")).collect();
            let current = match keys.iter().map(|key| read_in(&mut dirs, key)).collect::<io::Result<Vec<_>>>() {
                Err(e) if e.kind() == io::ErrorKind::NotFound && dir != "default" => continue,
                current => current?,
            };
            keys.iter().zip(current).try_for_each(|(key, value)| write_in(&mut dirs, key, &value))?;
        }
        Ok(())
    })
}

/// `(key, value)` pairs of the baseline, in `sysctl` dotted form, written in this order.
///
/// The IPv4 values are the kernel's built-in defaults (`ipv4_devconf` and
/// `ipv4_devconf_dflt` in net/ipv4/devinet.c, Documentation/networking/ip-sysctl.rst),
/// not whatever the machine's distribution configured (systemd, for one, sets
/// `rp_filter=2`, `promote_secondaries=1` and `accept_source_route=0` in its own
/// namespace, and a new namespace would copy them). Read-only keys (`mc_forwarding`)
/// and pure labels (`tag`, `medium_id`) are left out.
pub const BASELINE: &[(&str, &str)] = &[
    // Forwarding first: changing `all/forwarding` (which `ip_forward` is another name
    // for) rewrites `default/forwarding`, every interface's value and
    // `all/accept_redirects`; the keys below then set their own values.
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv4.conf.all.forwarding", "0"),
    ("net.ipv4.conf.default.forwarding", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.ipv4.conf.all.arp_ignore", "0"),
    ("net.ipv4.conf.default.arp_ignore", "0"),
    ("net.ipv4.conf.all.arp_announce", "0"),
    ("net.ipv4.conf.default.arp_announce", "0"),
    ("net.ipv4.conf.all.arp_filter", "0"),
    ("net.ipv4.conf.default.arp_filter", "0"),
    ("net.ipv4.conf.all.arp_accept", "0"),
    ("net.ipv4.conf.default.arp_accept", "0"),
    ("net.ipv4.conf.all.arp_notify", "0"),
    ("net.ipv4.conf.default.arp_notify", "0"),
    ("net.ipv4.conf.all.arp_evict_nocarrier", "1"),
    ("net.ipv4.conf.default.arp_evict_nocarrier", "1"),
    ("net.ipv4.conf.all.drop_gratuitous_arp", "0"),
    ("net.ipv4.conf.default.drop_gratuitous_arp", "0"),
    ("net.ipv4.conf.all.drop_unicast_in_l2_multicast", "0"),
    ("net.ipv4.conf.default.drop_unicast_in_l2_multicast", "0"),
    ("net.ipv4.conf.all.accept_local", "0"),
    ("net.ipv4.conf.default.accept_local", "0"),
    ("net.ipv4.conf.all.proxy_arp", "0"),
    ("net.ipv4.conf.default.proxy_arp", "0"),
    ("net.ipv4.conf.all.proxy_arp_pvlan", "0"),
    ("net.ipv4.conf.default.proxy_arp_pvlan", "0"),
    ("net.ipv4.conf.all.send_redirects", "1"),
    ("net.ipv4.conf.default.send_redirects", "1"),
    ("net.ipv4.conf.all.accept_redirects", "1"),
    ("net.ipv4.conf.default.accept_redirects", "1"),
    ("net.ipv4.conf.all.secure_redirects", "1"),
    ("net.ipv4.conf.default.secure_redirects", "1"),
    ("net.ipv4.conf.all.shared_media", "1"),
    ("net.ipv4.conf.default.shared_media", "1"),
    // Not a typo: the kernel's `all` is 0 and its `default` is 1 (the effective
    // value for an interface is the AND of `all` and the interface's own).
    ("net.ipv4.conf.all.accept_source_route", "0"),
    ("net.ipv4.conf.default.accept_source_route", "1"),
    ("net.ipv4.conf.all.log_martians", "0"),
    ("net.ipv4.conf.default.log_martians", "0"),
    ("net.ipv4.conf.all.route_localnet", "0"),
    ("net.ipv4.conf.default.route_localnet", "0"),
    ("net.ipv4.conf.all.bootp_relay", "0"),
    ("net.ipv4.conf.default.bootp_relay", "0"),
    ("net.ipv4.conf.all.bc_forwarding", "0"),
    ("net.ipv4.conf.default.bc_forwarding", "0"),
    ("net.ipv4.conf.all.promote_secondaries", "0"),
    ("net.ipv4.conf.default.promote_secondaries", "0"),
    ("net.ipv4.conf.all.src_valid_mark", "0"),
    ("net.ipv4.conf.default.src_valid_mark", "0"),
    ("net.ipv4.conf.all.ignore_routes_with_linkdown", "0"),
    ("net.ipv4.conf.default.ignore_routes_with_linkdown", "0"),
    ("net.ipv4.conf.all.disable_policy", "0"),
    ("net.ipv4.conf.default.disable_policy", "0"),
    ("net.ipv4.conf.all.disable_xfrm", "0"),
    ("net.ipv4.conf.default.disable_xfrm", "0"),
    ("net.ipv4.conf.all.force_igmp_version", "0"),
    ("net.ipv4.conf.default.force_igmp_version", "0"),
    ("net.ipv4.conf.all.igmpv2_unsolicited_report_interval", "10000"),
    ("net.ipv4.conf.default.igmpv2_unsolicited_report_interval", "10000"),
    ("net.ipv4.conf.all.igmpv3_unsolicited_report_interval", "1000"),
    ("net.ipv4.conf.default.igmpv3_unsolicited_report_interval", "1000"),
    // Deviation from the kernel default ("1 0", nobody): lets every group open ICMP
    // datagram sockets, so `probe::ping` pings in-process without CAP_NET_RAW.
    ("net.ipv4.ping_group_range", "0 2147483647"),
    // Deviation: addr_gen_mode 1 ("none") gives new interfaces no automatic IPv6
    // link-local address, hence none of the DAD, router solicitation and MLD packets
    // each interface would otherwise send at a random moment after coming up, which
    // make captures nondeterministic. `lo` keeps ::1. Scenarios that need link-local
    // addresses set addr_gen_mode 0 (or add fe80:: addresses themselves). Only
    // `default`: interfaces created afterwards copy it, and the one interface that
    // exists already (`lo`) never gets a link-local address. Writing `all` would
    // re-run address generation on `lo` (giving it `::1` while down and an extra
    // `::1` route in the main table, which a fresh namespace has not) and cost
    // ~20 µs a node.
    ("net.ipv6.conf.default.addr_gen_mode", "1"),
];

/// Write one sysctl (`net.ipv4.ip_forward`, dotted or slashed) inside `ns`.
/// The error names the key and says whether it does not exist in this namespace.
pub fn write(ns: &Netns, key: &str, value: &str) -> io::Result<()> {
    ns.run(|| write_here(&[(key, value)]))
}

/// Write several sysctls inside `ns` in order, from one thread inside the namespace
/// (one hop instead of one per key). Stops at the first failure.
pub fn write_many(ns: &Netns, settings: &[(String, String)]) -> io::Result<()> {
    ns.run(|| write_here(settings))
}

/// Read one sysctl inside `ns` (trimmed; tabs in multi-value keys become spaces).
pub fn read(ns: &Netns, key: &str) -> io::Result<String> {
    ns.run(|| read_here(key))
}

/// Write `settings` in order in the namespace of the calling thread (like
/// [`write_many`], for code already running inside the namespace). Stops at the
/// first failure.
pub fn write_here<K: AsRef<str>, V: AsRef<str>>(settings: &[(K, V)]) -> io::Result<()> {
    let mut dirs = SysctlDirs::default();
    settings.iter().try_for_each(|(key, value)| write_in(&mut dirs, key.as_ref(), value.as_ref()))
}

/// Read `key` in the namespace of the calling thread.
fn read_here(key: &str) -> io::Result<String> {
    read_in(&mut SysctlDirs::default(), key)
}

fn write_in(dirs: &mut SysctlDirs, key: &str, value: &str) -> io::Result<()> {
    let context = |e: io::Error| io::Error::new(e.kind(), format!("sysctl {key} = {value}: {e}"));
    dirs.open(key, OFlag::O_WRONLY, context)?.write_all(value.as_bytes()).map_err(context)
}

/// Read `key` (trimmed; tabs in multi-value keys become spaces).
fn read_in(dirs: &mut SysctlDirs, key: &str) -> io::Result<String> {
    let context = |e: io::Error| io::Error::new(e.kind(), format!("sysctl {key}: {e}"));
    let mut text = String::new();
    dirs.open(key, OFlag::O_RDONLY, context)?.read_to_string(&mut text).map_err(context)?;
    Ok(text.trim().replace('\t', " "))
}

/// The `/proc/sys` directories opened so far by one batch of reads or writes.
///
/// The path lookup is most of what a sysctl write costs (inside a namespace, every
/// `/proc/sys` component is looked up among the entries of all namespaces), and the
/// baseline writes dozens of keys from a handful of directories into every node:
/// each key then costs a lookup of its last component only.
#[derive(Default)]
struct SysctlDirs(Vec<(PathBuf, File)>);

impl SysctlDirs {
    /// Open the file for `key` in the namespace of the calling thread: the first of
    /// [`candidate_paths`] that exists there. A failure to open it goes through
    /// `context`. Candidates are opened straight away rather than checked first.
    fn open(&mut self, key: &str, flags: OFlag, context: impl Fn(io::Error) -> io::Error) -> io::Result<File> {
        for path in candidate_paths(key)? {
            match self.open_path(&path, flags) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                opened => return opened.map_err(context),
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, format!("sysctl {key}: no such sysctl in this namespace")))
    }

    fn open_path(&mut self, path: &Path, flags: OFlag) -> io::Result<File> {
        let (Some(dir), Some(leaf)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a file", path.display())));
        };
        let dir = match self.0.iter().position(|(open, _)| open == dir) {
            Some(known) => &self.0[known].1,
            None => {
                self.0.push((dir.to_path_buf(), File::open(dir)?));
                &self.0[self.0.len() - 1].1
            }
        };
        let fd = nix::fcntl::openat(dir, leaf, flags | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
        Ok(File::from(fd))
    }
}

const PROC_SYS: &str = "/proc/sys";

/// Where `key` may live under `/proc/sys`, most likely first.
///
/// First the reading `sysctl(8)` uses: if the first separator in the key is a `.`,
/// dots and slashes swap (so `net.ipv4.conf.eth0/100.rp_filter` is
/// `net/ipv4/conf/eth0.100/rp_filter`), otherwise the key is a path already. Then, for
/// a dotted key naming an interface (`net.ipv{4,6}.{conf,neigh}.IFACE.LEAF`), the
/// reading that keeps dots in the interface name: `net.ipv4.conf.eth0.100.rp_filter`
/// → `net/ipv4/conf/eth0.100/rp_filter`.
fn candidate_paths(key: &str) -> io::Result<Vec<PathBuf>> {
    let mut relative = vec![sysctl_reading(key)];
    relative.extend(interface_reading(key));
    relative.dedup();
    relative
        .iter()
        .map(|rel| {
            let well_formed = !rel.is_empty() && rel.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
            if well_formed {
                Ok(Path::new(PROC_SYS).join(rel))
            } else {
                Err(io::Error::new(io::ErrorKind::InvalidInput, format!("sysctl key {key:?} is malformed")))
            }
        })
        .collect()
}

/// `sysctl(8)`'s translation: the first separator decides the notation.
fn sysctl_reading(key: &str) -> String {
    match key.find(['.', '/']).map(|i| &key[i..i + 1]) {
        Some(".") => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The reading of a purely dotted per-interface key with the interface name intact.
fn interface_reading(key: &str) -> Option<String> {
    if key.contains('/') {
        return None;
    }
    let segments: Vec<&str> = key.split('.').collect();
    match segments.as_slice() {
        ["net", family @ ("ipv4" | "ipv6"), table @ ("conf" | "neigh"), interface @ .., leaf]
            if interface.len() > 1 =>
        {
            Some(format!("net/{family}/{table}/{}/{leaf}", interface.join(".")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(key: &str) -> Vec<String> {
        candidate_paths(key).unwrap().into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn keys_translate_like_sysctl() {
        assert_eq!(paths("net.ipv4.ip_forward"), ["/proc/sys/net/ipv4/ip_forward"]);
        assert_eq!(paths("net/ipv4/ip_forward"), ["/proc/sys/net/ipv4/ip_forward"]);
        // sysctl's own escape for a dot inside a segment: a slash in dotted notation.
        assert_eq!(paths("net.ipv4.conf.eth0/100.rp_filter"), ["/proc/sys/net/ipv4/conf/eth0.100/rp_filter"]);
        // In slashed notation dots are plain characters.
        assert_eq!(paths("net/ipv4/conf/eth0.100/rp_filter"), ["/proc/sys/net/ipv4/conf/eth0.100/rp_filter"]);
    }

    #[test]
    fn dotted_interface_names_get_a_second_reading() {
        assert_eq!(
            paths("net.ipv4.conf.eth0.100.rp_filter"),
            ["/proc/sys/net/ipv4/conf/eth0/100/rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"]
        );
        assert_eq!(
            paths("net.ipv6.neigh.br.0.1.retrans_time_ms"),
            ["/proc/sys/net/ipv6/neigh/br/0/1/retrans_time_ms", "/proc/sys/net/ipv6/neigh/br.0.1/retrans_time_ms"]
        );
        // Names without dots, and keys outside conf/neigh, have a single reading.
        assert_eq!(paths("net.ipv4.conf.eth0.rp_filter"), ["/proc/sys/net/ipv4/conf/eth0/rp_filter"]);
        assert_eq!(paths("net.core.somaxconn"), ["/proc/sys/net/core/somaxconn"]);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for key in ["", "net..ipv4", "net.ipv4.", "net/../../etc/passwd", "/net/ipv4/ip_forward"] {
            let err = candidate_paths(key).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{key:?}");
        }
    }

    fn read_all(ns: &Netns) -> Vec<(String, String)> {
        BASELINE.iter().map(|(key, _)| (key.to_string(), read(ns, key).unwrap())).collect()
    }

    fn expected() -> Vec<(String, String)> {
        BASELINE.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn apply_sets_every_baseline_key() {
        needs_root!();
        let ns = Netns::new().unwrap();
        apply(&ns).unwrap();
        assert_eq!(read_all(&ns), expected());
    }

    #[test]
    fn new_namespaces_get_every_baseline_key_from_the_needed_writes() {
        needs_root!();
        let needed = needed_writes();
        // Never inherited: the kernel's default is "1 0" in every new namespace.
        assert!(needed.contains(&("net.ipv4.ping_group_range", "0 2147483647")), "{needed:?}");
        for result in Netns::new_many(3, |_, _| apply_to_new_here()) {
            let (ns, applied) = result.unwrap();
            applied.unwrap();
            assert_eq!(read_all(&ns), expected());
        }
    }

    /// Create a veth pair `name`/`name`1 in `ns` with `ip`, as a command would.
    fn add_veth_by_command(ns: &Netns, name: &str) {
        let command = format!("ip link add {name} type veth peer name {name}1");
        let out = crate::observe::exec::run(ns, &command, std::time::Duration::from_secs(5)).unwrap();
        assert!(out.status.success(), "{command}: {out:?}");
    }

    #[test]
    fn finished_namespaces_follow_later_default_writes_as_after_a_full_apply() {
        needs_root!();
        // Keys the machine's namespace most likely never wrote, so that only the
        // baseline marks them. `built` stands for an interface of the build (without
        // an IPv4 address: one marks every key), `later` for one a command creates
        // after the default is written.
        let keys = ["arp_ignore", "accept_local", "log_martians"];
        let after_a_default_write = |ns: &Netns| {
            let writes: Vec<_> = keys.iter().map(|k| (format!("net.ipv4.conf.default.{k}"), "1".to_string())).collect();
            write_many(ns, &writes).unwrap();
            add_veth_by_command(ns, "later");
            ["built", "later"].map(|iface| keys.map(|k| read(ns, &format!("net.ipv4.conf.{iface}.{k}")).unwrap()))
        };
        let new_with_built_interface = || {
            let (ns, applied) = Netns::new_many(1, |_, _| apply_to_new_here()).pop().unwrap().unwrap();
            applied.unwrap();
            add_veth_by_command(&ns, "built");
            ns
        };
        let full = Netns::new().unwrap();
        apply(&full).unwrap();
        add_veth_by_command(&full, "built");
        let finished = new_with_built_interface();
        finish(&finished, &["built", "built1"]).unwrap();
        let unfinished = new_with_built_interface();

        let expected = [["0", "0", "0"].map(String::from), ["1", "1", "1"].map(String::from)];
        assert_eq!(after_a_default_write(&full), expected, "marked at birth, `built` keeps its values");
        assert_eq!(after_a_default_write(&finished), expected);
        // What `finish` is for: without the marks `built` follows the write.
        assert_eq!(after_a_default_write(&unfinished)[0], ["1", "1", "1"]);
    }

    #[test]
    fn finish_changes_no_value_and_passes_over_missing_interfaces() {
        needs_root!();
        let ns = Netns::new().unwrap();
        write(&ns, "net.ipv4.conf.default.rp_filter", "2").unwrap();
        add_veth_by_command(&ns, "v");
        write(&ns, "net.ipv4.conf.v.arp_ignore", "1").unwrap();
        let before =
            [read(&ns, "net.ipv4.conf.v.rp_filter").unwrap(), read(&ns, "net.ipv4.conf.v.arp_ignore").unwrap()];
        assert_eq!(before, ["2", "1"]);
        finish(&ns, &["v", "gone"]).unwrap();
        let after = [read(&ns, "net.ipv4.conf.v.rp_filter").unwrap(), read(&ns, "net.ipv4.conf.v.arp_ignore").unwrap()];
        assert_eq!(after, before);
        assert_eq!(read(&ns, "net.ipv4.conf.default.rp_filter").unwrap(), "2");
    }

    #[test]
    fn apply_resets_values_a_namespace_would_inherit() {
        needs_root!();
        // The machine's own namespace is never touched: stand in for a host with other
        // settings by changing a namespace first, then check apply undoes it.
        let ns = Netns::new().unwrap();
        let changed = [
            ("net.ipv4.conf.all.rp_filter", "2"),
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.default.promote_secondaries", "1"),
        ];
        let changed: Vec<(String, String)> = changed.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        write_many(&ns, &changed).unwrap();
        assert_eq!(read(&ns, "net.ipv4.conf.all.rp_filter").unwrap(), "2");
        apply(&ns).unwrap();
        assert_eq!(read_all(&ns), expected());
    }

    #[test]
    fn multi_value_keys_read_with_spaces() {
        needs_root!();
        let ns = Netns::new().unwrap();
        write(&ns, "net/ipv4/ping_group_range", "0 2147483647").unwrap();
        assert_eq!(read(&ns, "net.ipv4.ping_group_range").unwrap(), "0 2147483647");
    }

    #[test]
    fn interface_names_with_dots_resolve() {
        needs_root!();
        let ns = Netns::new().unwrap();
        add_veth_by_command(&ns, "v.1");
        write(&ns, "net.ipv4.conf.v.1.rp_filter", "2").unwrap();
        assert_eq!(read(&ns, "net/ipv4/conf/v.1/rp_filter").unwrap(), "2");
        assert_eq!(read(&ns, "net.ipv4.conf.v/11.rp_filter").unwrap(), "0");
    }

    #[test]
    fn errors_name_the_key() {
        needs_root!();
        let ns = Netns::new().unwrap();
        let missing = write(&ns, "net.ipv4.conf.nosuch0.rp_filter", "1").unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert_eq!(missing.to_string(), "sysctl net.ipv4.conf.nosuch0.rp_filter: no such sysctl in this namespace");
        let invalid = write(&ns, "net.ipv4.conf.all.rp_filter", "banana").unwrap_err();
        assert!(invalid.to_string().starts_with("sysctl net.ipv4.conf.all.rp_filter = banana: "), "{invalid}");
    }
}
