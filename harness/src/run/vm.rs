//! Other kernels in a microVM: `netrig run --kernel K` and `NETRIG_KERNELS` in `cargo test`.
//!
//! One VM per kernel per run: virtme-ng (`vng`) boots the kernel under QEMU with the
//! machine's files shared read-only, and the same netrig binary (or test binary) runs
//! the selected scenarios inside as root, writing its results as `--json` lines into a
//! read-write directory of this run (the only host directory the guest can write; its
//! own stdout does not come back reliably). The host reads them back and reports them
//! as if they had run here, labelled with the kernel.
//!
//! Isolation: `vng` runs like a node's command ([`exec::spawn`]) in a fresh, empty
//! network namespace (the guest gets no network from the machine; virtme-ng gives it
//! none anyway) as process 1 of its own PID namespace with `PR_SET_PDEATHSIG`: QEMU
//! dies with the thread that started it, SIGKILL of netrig included.
//!
//! Acceleration: KVM when `/dev/kvm` opens and a guest boots with it; a KVM guest that
//! does not announce itself within [`KVM_BOOT`] (some hosts' KVM fails or hangs on
//! the default CPU model) is killed and the kernel booted again under TCG.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::build::netns::Netns;
use crate::observe::exec;

/// A kernel to boot: its image and the release it reports (`uname -r` in the guest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub image: PathBuf,
    pub release: String,
}

impl Kernel {
    /// The kernel's name in test names and artifact paths: the release without a
    /// distribution flavour (`6.1.0-57-amd64` → `6.1.0-57`).
    pub fn label(&self) -> String {
        match self.release.rsplit_once('-') {
            Some((rest, flavour)) if flavour.starts_with(|c: char| c.is_ascii_alphabetic()) => rest.to_string(),
            _ => self.release.clone(),
        }
    }
}

/// The kernel `name` names: a path to a bzImage/vmlinuz, or a name under `/boot`
/// (`vmlinuz-NAME`, or the one image whose name contains NAME: `6.1`).
pub fn resolve(name: &str) -> Result<Kernel, String> {
    resolve_in(name, Path::new("/boot"))
}

fn resolve_in(name: &str, boot: &Path) -> Result<Kernel, String> {
    let image = if Path::new(name).is_file() {
        PathBuf::from(name)
    } else {
        let images: Vec<PathBuf> = std::fs::read_dir(boot)
            .map(|dir| dir.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
            .collect();
        let exact = boot.join(format!("vmlinuz-{name}"));
        let matching: Vec<&PathBuf> =
            images.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(name))).collect();
        match matching.as_slice() {
            _ if images.contains(&exact) => exact,
            [one] => one.to_path_buf(),
            [] => {
                let there: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
                return Err(format!(
                    "no kernel image `{name}`: give the path of a bzImage/vmlinuz, or a name under {} ({}); \
                     on Debian/Ubuntu `apt install linux-image-amd64` installs one",
                    boot.display(),
                    if there.is_empty() { "there is none".to_string() } else { format!("there: {}", there.join(", ")) }
                ));
            }
            many => {
                let named: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
                return Err(format!("kernel `{name}` is ambiguous: {}; name one", named.join(", ")));
            }
        }
    };
    let release = release_of_image(&image)?;
    Ok(Kernel { image, release })
}

/// The release a bzImage announces in its setup header (the `kernel_version` field at
/// 0x20e points, less 0x200, at `6.1.0-57-amd64 (debian-kernel@…) #1 SMP …`).
fn release_of_image(image: &Path) -> Result<String, String> {
    let bytes = std::fs::read(image).map_err(|e| format!("cannot read the kernel image {}: {e}", image.display()))?;
    let not_bzimage = || format!("{} is not a bzImage/vmlinuz (no Linux boot header)", image.display());
    if bytes.get(0x202..0x206) != Some(b"HdrS") {
        return Err(not_bzimage());
    }
    let at = u16::from_le_bytes([bytes[0x20e], bytes[0x20f]]) as usize + 0x200;
    let version = bytes.get(at..).ok_or_else(not_bzimage)?;
    let end = version.iter().position(|&b| b == 0 || b == b' ').unwrap_or(version.len());
    match std::str::from_utf8(&version[..end]) {
        Ok(release) if !release.is_empty() => Ok(release.to_string()),
        _ => Err(not_bzimage()),
    }
}

/// What booting `kernel` needs that this machine lacks, saying what to install; `None`
/// when everything is there. `path` is the `PATH` to search.
pub fn missing(kernel: &Kernel, path: &str) -> Option<String> {
    let mut missing = Vec::new();
    if find_program("vng", path).is_none() {
        missing.push("virtme-ng (`pip install virtme-ng`)");
    }
    if find_program("qemu-system-x86_64", path).is_none() {
        missing.push("QEMU (`apt install qemu-system-x86`)");
    }
    // virtme-ng builds its initramfs from a *static* busybox, found under these names.
    let busybox = ["busybox-static", "busybox.static", "busybox"].iter().find_map(|b| find_program(b, path));
    if !busybox.is_some_and(|b| is_static(&b)) {
        missing.push("a statically linked busybox (`apt install busybox-static`; Debian's `busybox` is dynamic)");
    }
    // A distribution kernel mounts the machine's files with modules of its own: the
    // `-cloud` flavours lack them. A kernel without a module tree may have them built in.
    let modules = Path::new("/lib/modules").join(&kernel.release);
    let shares = ["kernel/fs/9p", "kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/virtiofs.ko.xz"];
    if modules.is_dir() && !shares.iter().any(|s| modules.join(s).exists()) {
        missing.push("a kernel with the 9p or virtiofs modules (the generic image, not a -cloud one)");
    }
    (!missing.is_empty()).then(|| {
        format!("--kernel {} boots a microVM, which needs what is missing here: {}", kernel.release, missing.join("; "))
    })
}

fn find_program(name: &str, path: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Whether the ELF file at `path` has no program interpreter (so no dynamic loader):
/// the interpreter's path sits in the first page of a dynamic executable.
fn is_static(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let head = &bytes[..bytes.len().min(4096)];
    head.starts_with(b"\x7fELF") && !head.windows(7).any(|w| w == b"ld-linu" || w == b"ld-musl")
}

/// The guest announces itself on its console with this line before it runs anything.
const BOOTED: &str = "netrig-guest-booted";

/// How long a KVM guest may take to reach its command before TCG is tried instead (a
/// healthy one takes 2-3 s; under TCG the same boot takes 15-30 s).
const KVM_BOOT: Duration = Duration::from_secs(30);

/// How a guest ran: its console (the kernel's messages and the guest's stdout) and
/// whether it was accelerated.
#[derive(Debug)]
pub struct Booted {
    pub console: String,
    pub kvm: bool,
    /// From starting `vng` to the guest's first command (`None`: it never got there).
    pub boot: Option<Duration>,
}

/// Boot `kernel` and run `command` (a shell line, as root, from `cwd`) in it; `rwdir` is
/// the one directory of the machine the guest may write. Returns once the VM is off,
/// or fails after `timeout` (the VM is then killed). Call it on a thread that lives
/// until it returns: the VM dies with that thread.
pub fn boot_and_run(kernel: &Kernel, rwdir: &Path, cwd: &Path, command: &str, timeout: Duration) -> io::Result<Booted> {
    let scratch = rwdir.join("tmp");
    std::fs::create_dir_all(&scratch)?;
    // The command goes in a file the guest reads, not on the kernel's command line (2 KiB
    // at most). br_netfilter first: a distribution kernel has as a module what a CI
    // kernel often builds in, and unlike a link kind's module the kernel never loads it
    // on demand; scenarios use its sysctls (net.bridge.bridge-nf-call-*) and hooks.
    // And tun: /dev/net/tun, which would load it on first use, is only there once it
    // is loaded (a distribution's boot creates the node ahead; the VM's init does not).
    let script = rwdir.join("guest.sh");
    let cd = quoted(&cwd.to_string_lossy());
    std::fs::write(&script, format!("modprobe -qa br_netfilter tun\ncd {cd} && {command}\n"))?;
    let guest = format!("echo {BOOTED}; sh {}", quoted(&script.to_string_lossy()));
    let try_kvm = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    for kvm in [true, false] {
        if kvm && !try_kvm {
            continue;
        }
        // TMPDIR: virtme-ng's own temporary files stay in the run's directory too.
        let line = format!(
            "TMPDIR={} exec vng --run {} --user root {} --rwdir {} -- {}",
            quoted(&scratch.to_string_lossy()),
            quoted(&kernel.image.to_string_lossy()),
            if kvm { "" } else { "--disable-kvm" },
            quoted(&rwdir.to_string_lossy()),
            quoted(&guest),
        );
        let ns = Netns::new()?;
        let started = Instant::now();
        let mut vm = exec::spawn(&ns, &line)?;
        let booted = vm.wait_for_output(|out| out.contains(BOOTED), if kvm { KVM_BOOT } else { timeout });
        if kvm && !booted {
            // Killed with everything it started when dropped; TCG next.
            drop(vm);
            continue;
        }
        let boot = booted.then(|| started.elapsed());
        let left = timeout.saturating_sub(started.elapsed());
        return match vm.wait_exit(left)? {
            Some(_) => Ok(Booted { console: vm.output(), kvm, boot }),
            None => {
                let console = vm.stop()?;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the VM of kernel {} did not finish within {}; its console ended with:\n{}",
                        kernel.release,
                        humantime::format_duration(timeout),
                        tail(&console, 20)
                    ),
                ))
            }
        };
    }
    unreachable!("the TCG attempt always returns")
}

/// `'…'` for `sh`, quotes inside escaped.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with a bzImage setup header announcing `release`.
    fn fake_image(path: &Path, release: &str) {
        let mut bytes = vec![0u8; 0x400];
        bytes[0x202..0x206].copy_from_slice(b"HdrS");
        bytes[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        bytes[0x300..0x300 + release.len()].copy_from_slice(release.as_bytes());
        bytes[0x300 + release.len()] = b' ';
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn kernels_are_found_by_path_full_name_or_unique_part() {
        let boot = tempfile::tempdir().unwrap();
        fake_image(&boot.path().join("vmlinuz-6.1.0-57-amd64"), "6.1.0-57-amd64");
        fake_image(&boot.path().join("vmlinuz-6.12.9-amd64"), "6.12.9-amd64");
        let by_name = resolve_in("6.1.0-57-amd64", boot.path()).unwrap();
        assert_eq!(by_name.release, "6.1.0-57-amd64");
        assert_eq!(by_name.label(), "6.1.0-57");
        assert_eq!(Kernel { image: PathBuf::new(), release: "6.18.1+deb14-amd64".into() }.label(), "6.18.1+deb14");
        assert_eq!(resolve_in("6.12", boot.path()).unwrap().release, "6.12.9-amd64");
        let path = boot.path().join("vmlinuz-6.12.9-amd64");
        assert_eq!(resolve_in(path.to_str().unwrap(), boot.path()).unwrap().image, path);
        let ambiguous = resolve_in("6.1", boot.path()).unwrap_err();
        assert!(ambiguous.contains("ambiguous"), "{ambiguous}");
    }

    #[test]
    fn a_kernel_that_is_not_there_says_what_to_install() {
        let boot = tempfile::tempdir().unwrap();
        let e = resolve_in("6.1", boot.path()).unwrap_err();
        assert!(e.contains("no kernel image `6.1`") && e.contains("apt install linux-image-amd64"), "{e}");
        std::fs::write(boot.path().join("vmlinuz-text"), "not a kernel").unwrap();
        let e = resolve_in("text", boot.path()).unwrap_err();
        assert!(e.contains("is not a bzImage"), "{e}");
    }

    #[test]
    fn missing_tools_are_named_with_what_to_install() {
        let kernel = Kernel { image: "/nonexistent".into(), release: "0.0.0-none".into() };
        let empty = tempfile::tempdir().unwrap();
        let e = missing(&kernel, &empty.path().to_string_lossy()).expect("nothing is on an empty PATH");
        for install in ["pip install virtme-ng", "apt install qemu-system-x86", "apt install busybox-static"] {
            assert!(e.contains(install), "{e}");
        }
        // A dynamic busybox does not do.
        std::fs::copy("/bin/sh", empty.path().join("busybox")).unwrap();
        let e = missing(&kernel, &empty.path().to_string_lossy()).unwrap();
        assert!(e.contains("statically linked busybox"), "{e}");
    }
}
