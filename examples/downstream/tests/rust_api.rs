//! The project's policy checked from Rust with netrig's `Lab`: a topology from YAML,
//! the project's own code and programs inside its nodes, netrig's assertions on them.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use downstream::ROUTER_SYSCTLS;
use netrig::lab::{Error, Lab};
use rstest::rstest;

/// A client, a router with the project's sysctls (`changed` replacing some) and a
/// server. `None` where topologies cannot be built here (not root, or a kernel
/// without a feature).
fn router_lab(changed: &[(&str, &str)]) -> Option<Lab> {
    let mut policy: BTreeMap<&str, &str> = ROUTER_SYSCTLS.iter().copied().collect();
    policy.extend(changed.iter().copied());
    let sysctls: Vec<String> = policy.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let yaml = format!(
        "nodes:
  client: {{routes: [default via 10.10.0.1]}}
  router: {{sysctl: {{{}}}}}
  server: {{routes: [default via 10.20.0.1]}}
links:
  - veth: [client:eth0 10.10.0.2/24, router:lan 10.10.0.1/24]
  - veth: [router:wan 10.20.0.1/24, server:eth0 10.20.0.2/24]
",
        sysctls.join(", ")
    );
    if let Some(reason) = netrig::missing_privilege() {
        eprintln!("skipped: {reason}");
        return None;
    }
    match Lab::from_yaml(&yaml) {
        Ok(lab) => Some(lab),
        Err(Error::Unsupported { what, reason }) => {
            eprintln!("skipped: no {what} here: {reason}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The policy with forwarding switched per case: the client reaches the server only
/// while the router forwards.
#[rstest]
#[case::forwarding("1", "")]
#[case::not_forwarding("0", ", fails: true")]
fn the_server_is_reached_only_through_a_forwarding_router(#[case] ip_forward: &str, #[case] outcome: &str) {
    let Some(lab) = router_lab(&[("net.ipv4.ip_forward", ip_forward)]) else { return };
    lab.expect(&format!("ping: {{from: client, to: 10.20.0.2{outcome}}}")).unwrap();
}

#[test]
fn a_failed_assertion_says_what_the_kernel_showed() {
    let Some(lab) = router_lab(&[]) else { return };
    let error = lab.expect("ping: {from: client, to: 10.20.0.2, fails: true}").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("ping client -> 10.20.0.2") && message.contains("observed: sent 1, received 1"),
        "{message}"
    );
    // Mistakes are located as in a scenario file.
    let invalid = lab.expect("ping: {from: nobody, to: 10.20.0.2}").unwrap_err().to_string();
    assert!(invalid.contains("no node named `nobody`"), "{invalid}");
}

#[test]
fn the_projects_own_code_serves_inside_a_node() {
    let Some(lab) = router_lab(&[]) else { return };
    // A UDP echo server of our own, its socket opened inside the server node.
    let socket = lab.node("server").unwrap().enter(|| UdpSocket::bind("10.20.0.2:7007")).unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let (n, peer) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(&buf[..n], peer).unwrap();
    });
    lab.expect("udp: {from: client, to: 10.20.0.2:7007, payload: policy}").unwrap();
    server.join().unwrap();
}

#[test]
fn a_program_left_running_in_a_node_is_reached_and_its_output_kept() {
    let Some(lab) = router_lab(&[]) else { return };
    let program = "import socket; s = socket.create_server(('10.20.0.2', 8080)); print('ready', flush=True); \
                   c, a = s.accept(); print('accepted', a[0], flush=True)";
    let server = lab.node("server").unwrap().spawn(&format!("python3 -c \"{program}\"")).unwrap();
    // Ready once it says so: woken by its output, never by a timer.
    let said = |line: &'static str| move |out: &str| out.lines().any(|l| l == line);
    assert!(server.wait_for_output(said("ready"), Duration::from_secs(10)), "not ready:\n{}", server.output());
    lab.expect("connect: {from: client, to: 10.20.0.2:8080}").unwrap();
    // What it printed is evidence: it saw the client's address, not the router's.
    assert!(server.wait_for_output(said("accepted 10.10.0.2"), Duration::from_secs(10)), "{}", server.output());
    server.stop().unwrap();
}

#[test]
fn packets_captured_on_the_way_are_asserted() {
    let Some(lab) = router_lab(&[]) else { return };
    let wan = lab.capture("router:wan").unwrap();
    lab.expect("ping: {from: client, to: 10.20.0.2}").unwrap();
    wan.expect("packets: {on: 'router:wan', match: {ip: {src: 10.10.0.2}, icmp: {type: echo-request}}, count: 1}")
        .unwrap();
}

/// Inside an async test the lab still blocks only where it may.
#[tokio::test]
async fn a_lab_works_inside_a_tokio_test() {
    let Some(lab) = router_lab(&[]) else { return };
    lab.act("set_link: {dev: 'router:wan', state: down}").unwrap();
    lab.expect("ping: {from: client, to: 10.20.0.2, fails: true}").unwrap();
}
