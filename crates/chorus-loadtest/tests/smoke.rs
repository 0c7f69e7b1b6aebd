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

/// The soak scenario's code path end to end on a tiny load: a few churning
/// connections against a memory-engine `chorus` node (built next to this tool:
/// `cargo build -p chorus-server`), every client checked against history at the
/// end, nothing lost or duplicated.
#[test]
fn soak_runs_with_churn_and_recovery_and_loses_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_chorus-loadtest"))
        .args([
            "soak",
            "--connections",
            "40",
            "--channels",
            "4",
            "--rate",
            "40",
            "--duration",
            "4",
            "--mean-lifetime",
            "1",
            "--sample-every",
            "1",
        ])
        .output()
        .expect("run chorus-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "| **publications lost** (history held them, client never got them) | **0** |"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("| **publications duplicated** | **0** |"),
        "{stdout}"
    );
    assert!(stdout.contains("Verdict: PASS"), "{stdout}");
    // Churn happened and the clients came back with recovery.
    let recovered = stdout
        .lines()
        .find(|l| l.starts_with("| recoveries: attempted / recovered"))
        .unwrap_or_default();
    let attempted: u64 = recovered
        .split('|')
        .nth(2)
        .and_then(|v| v.split('/').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(attempted > 0, "no recovery happened: {stdout}");
}
