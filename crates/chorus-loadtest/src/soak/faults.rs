//! The fault schedule, run on a blocking thread beside the load: Redis killed
//! and restarted, Redis frozen and thawed, the second node killed.

use super::deploy::SoakDeployment;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One fault event: when (since the load started) and what.
pub(crate) struct Event {
    pub(crate) at: Duration,
    pub(crate) what: &'static str,
}

fn wait_until(start: Instant, at: Duration) {
    let when = start + at;
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// Injects the faults at 25 %, 50 % and 75 % of `duration`.
pub(crate) fn run(
    dep: &Mutex<SoakDeployment>,
    start: Instant,
    duration: Duration,
) -> anyhow::Result<Vec<Event>> {
    let lock = || dep.lock().unwrap_or_else(|e| e.into_inner());
    let mut events = Vec::new();
    let mut log = |what: &'static str| {
        let at = start.elapsed();
        eprintln!("soak: {:.1} s: {what}", at.as_secs_f64());
        events.push(Event { at, what });
    };

    wait_until(start, duration / 4);
    lock().kill_redis()?;
    log("redis-server killed (SIGKILL)");
    std::thread::sleep(Duration::from_secs(3));
    lock().restart_redis()?;
    log("redis-server restarted, empty (no persistence)");

    wait_until(start, duration / 2);
    lock().freeze_redis(true)?;
    log("redis-server frozen (SIGSTOP)");
    std::thread::sleep(Duration::from_secs(6));
    lock().freeze_redis(false)?;
    log("redis-server thawed (SIGCONT)");

    wait_until(start, duration * 3 / 4);
    lock().kill_node(1)?;
    log("node 1 killed (SIGKILL): its clients move to node 0");
    Ok(events)
}
