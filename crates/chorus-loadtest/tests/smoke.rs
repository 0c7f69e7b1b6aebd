//! The load tool runs end to end on a tiny load (a functional check, not a timing).

use std::process::Command;

#[test]
fn fanout_runs_both_servers_and_reports_a_ratio() {
    let out = Command::new(env!("CARGO_BIN_EXE_chorus-loadtest"))
        .args([
            "fanout",
            "--clients",
            "20",
            "--messages",
            "10",
            "--interval-us",
            "0",
        ])
        .output()
        .expect("run chorus-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| chorus-hub | 20 | 200/200 |"), "{stdout}");
    assert!(
        stdout.contains("| baseline (tokio-tungstenite + broadcast) | 20 |"),
        "{stdout}"
    );
    assert!(stdout.contains("Ratio at N=20"), "{stdout}");
}
