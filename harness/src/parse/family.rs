//! Sysctls that exist for one address family only, named under the other.
//!
//! IPv4 and IPv6 keep their settings in look-alike trees (`net.ipv4.conf.eth0.*`,
//! `net.ipv6.conf.eth0.*`), but many settings exist on one side only: IPv6 has no
//! reverse-path filter, resolves neighbours with NDP instead of ARP and proxies with
//! `proxy_ndp`; IPv4 has no router advertisements or duplicate address detection.
//! Writing such a key fails only once the topology is being built (there is no such
//! file), and a `sysctl` check could never hold; [`check`] says so at validation, with
//! what the other family has instead.

/// The error for `key` when it names a setting its family does not have.
pub fn check(key: &str) -> Result<(), String> {
    match missing_in_family(key) {
        None => Ok(()),
        Some(instead) => Err(format!("`{key}` does not exist: {instead}")),
    }
}

/// Why `key` does not exist and what to write instead, when it is one of the kind.
fn missing_in_family(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts[..] {
        ["net", "ipv6", "ip_forward"] => Some("IPv6 forwarding is `net.ipv6.conf.all.forwarding`".into()),
        ["net", "ipv6", "ping_group_range"] => {
            Some("`net.ipv4.ping_group_range` covers ICMPv6 echo sockets too".into())
        }
        ["net", "ipv6", "conf", .., leaf] if parts.len() >= 5 => ipv4_only(leaf),
        ["net", "ipv4", "conf", .., leaf] if parts.len() >= 5 => ipv6_only(leaf).then(|| {
            format!("`{leaf}` is an IPv6 setting: write `net.ipv6.conf.{}.{leaf}`", parts[3..parts.len() - 1].join("."))
        }),
        _ => None,
    }
}

/// What IPv6 has instead of the IPv4-only interface setting `leaf`.
fn ipv4_only(leaf: &str) -> Option<String> {
    let instead = match leaf {
        "rp_filter" => {
            "IPv6 has no reverse-path filter setting (filter with a netfilter rule in `run:`, `ip6tables -t raw -A PREROUTING -m rpfilter --invert -j DROP`)"
        }
        "proxy_arp" | "proxy_arp_pvlan" => {
            "IPv6 proxies with `proxy_ndp` and a proxy entry per address (`neighbours: [proxy ADDR dev IF]`)"
        }
        "arp_notify" => "IPv6 announces a new address or MAC with `ndisc_notify`",
        "arp_evict_nocarrier" => "IPv6 has `ndisc_evict_nocarrier`",
        "arp_accept" => "IPv6 has `accept_untracked_na` for unsolicited neighbour advertisements",
        "arp_announce" | "arp_filter" | "arp_ignore" | "drop_gratuitous_arp" => {
            "IPv6 resolves neighbours with NDP, which has no such setting"
        }
        "accept_local"
        | "route_localnet"
        | "log_martians"
        | "secure_redirects"
        | "send_redirects"
        | "shared_media"
        | "src_valid_mark"
        | "bootp_relay"
        | "promote_secondaries"
        | "bc_forwarding"
        | "medium_id"
        | "tag"
        | "disable_xfrm"
        | "force_igmp_version" => "it is an IPv4 setting (IPv6 has none like it)",
        _ => return None,
    };
    Some(instead.to_string())
}

/// Interface settings only IPv6 has.
fn ipv6_only(leaf: &str) -> bool {
    matches!(
        leaf,
        "proxy_ndp"
            | "disable_ipv6"
            | "accept_ra"
            | "accept_ra_defrtr"
            | "accept_dad"
            | "autoconf"
            | "addr_gen_mode"
            | "dad_transmits"
            | "router_solicitations"
            | "ndisc_notify"
            | "ndisc_evict_nocarrier"
            | "keep_addr_on_down"
            | "hop_limit"
            | "accept_untracked_na"
            | "drop_unsolicited_na"
            | "use_tempaddr"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_only_settings_under_ipv6_say_what_ipv6_has() {
        let e = check("net.ipv6.conf.all.rp_filter").unwrap_err();
        assert!(e.starts_with("`net.ipv6.conf.all.rp_filter` does not exist: IPv6 has no reverse-path filter"), "{e}");
        assert!(check("net.ipv6.conf.eth0.proxy_arp").unwrap_err().contains("proxy_ndp"));
        assert!(check("net.ipv6.conf.br.0.arp_ignore").unwrap_err().contains("NDP"));
        assert!(check("net.ipv6.ip_forward").unwrap_err().contains("net.ipv6.conf.all.forwarding"));
        assert!(check("net.ipv6.ping_group_range").unwrap_err().contains("net.ipv4.ping_group_range"));
    }

    #[test]
    fn ipv6_only_settings_under_ipv4_name_their_place() {
        let e = check("net.ipv4.conf.eth0.proxy_ndp").unwrap_err();
        assert!(e.ends_with("write `net.ipv6.conf.eth0.proxy_ndp`"), "{e}");
        assert!(check("net.ipv4.conf.default.accept_ra").is_err());
    }

    #[test]
    fn settings_both_families_have_pass() {
        for key in [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv6.conf.all.forwarding",
            "net.ipv4.conf.all.forwarding",
            "net.ipv6.conf.eth0.accept_redirects",
            "net.ipv4.conf.eth0.accept_redirects",
            "net.ipv6.conf.all.proxy_ndp",
            "net.ipv4.ip_forward",
            "net.ipv6.neigh.eth0.retrans_time_ms",
            "net.ipv4.conf.all",
        ] {
            assert_eq!(check(key), Ok(()), "{key}");
        }
    }
}
