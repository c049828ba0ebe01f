//! A lab torn down by a panic leaves nothing: its namespaces are no longer held and its
//! services are gone. Alone in its test binary, so that no other test creates
//! namespaces meanwhile (the kernel reuses a freed namespace's inode number).

#[test]
fn a_panic_tears_the_lab_down_with_what_runs_in_it() {
    if let Some(reason) = netrig::missing_privilege() {
        eprintln!("skipped: {reason}");
        return;
    }
    let marker = format!("34.{}", std::process::id());
    // The lab's namespaces as fd links name them (`net:[4026532...]`), handed out
    // before the panic.
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn({
        let marker = marker.clone();
        move || {
            let lab = netrig::Lab::from_yaml(
                "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]",
            )
            .unwrap();
            for node in ["a", "b"] {
                let link = lab.node(node).unwrap().enter(|| std::fs::read_link("/proc/thread-self/ns/net")).unwrap();
                tx.send(link.display().to_string()).unwrap();
            }
            let daemon = lab.node("b").unwrap().spawn(&format!("echo up; exec sleep {marker}")).unwrap();
            assert!(daemon.wait_for_output(|out| out.contains("up"), std::time::Duration::from_secs(5)));
            panic!("a test fails midway");
        }
    })
    .join();
    assert!(panicked.is_err());
    let lab_namespaces: Vec<String> = rx.iter().collect();
    assert_eq!(lab_namespaces.len(), 2);
    // Unwinding dropped the lab: none of its namespaces is held, its daemon is gone.
    let held: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|link| link.display().to_string())
        .collect();
    assert!(lab_namespaces.iter().all(|ns| !held.contains(ns)), "still held: {lab_namespaces:?} in {held:?}");
    let cmdline: Vec<u8> = ["sleep", &marker].iter().flat_map(|a| a.bytes().chain([0])).collect();
    let procs = std::fs::read_dir("/proc").unwrap().flatten();
    let alive = procs.into_iter().any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == cmdline));
    assert!(!alive, "the daemon outlived its lab");
}
