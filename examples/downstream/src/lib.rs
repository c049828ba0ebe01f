//! Stands for the project under test (a CNI plugin, a routing daemon, a sysctl
//! policy): its networking policy is what the scenarios in `tests/net/` check.

/// The forwarding policy this project ships for its routers.
pub const ROUTER_SYSCTLS: &[(&str, &str)] = &[("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.rp_filter", "1")];
