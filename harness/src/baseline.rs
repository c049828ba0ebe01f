//! The documented starting point of every node, and sysctl access inside a namespace.
//!
//! A fresh namespace copies the IPv4 `conf/all` and `conf/default` values of the
//! machine's own namespace (FIELD-NOTES: `devconf_inherit_init_net`), so without a
//! baseline a scenario's outcome would depend on the CI host. [`apply`] writes the
//! kernel's defaults into a new namespace before anything else happens there.

use std::io;

use crate::netns::Netns;

/// Write the baseline sysctls (kernel defaults, listed in [`BASELINE`]) into `ns`.
pub fn apply(ns: &Netns) -> io::Result<()> {
    let _ = ns;
    todo!("helper A")
}

/// `(key, value)` pairs of the baseline, in `sysctl` dotted form.
pub const BASELINE: &[(&str, &str)] = &[];

/// Write one sysctl (`net.ipv4.ip_forward`, dotted or slashed) inside `ns`.
/// The error names the key and says whether it does not exist in this namespace.
pub fn write(ns: &Netns, key: &str, value: &str) -> io::Result<()> {
    let _ = (ns, key, value);
    todo!("helper A")
}

/// Read one sysctl inside `ns` (trimmed; tabs in multi-value keys become spaces).
pub fn read(ns: &Netns, key: &str) -> io::Result<String> {
    let _ = (ns, key);
    todo!("helper A")
}
