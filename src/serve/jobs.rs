//! Long operations started from the page (checkpoint, restore, migrate):
//! each runs on a thread of its own, outside the HTTP workers, with its own
//! `Out` (its steps land in its record, and on the server's stderr) and its
//! own `Cancel` flag (the page's cancel, or the server's stop: the
//! operation sees it between steps and rolls back as the CLI's does on
//! Ctrl-C), and leaves a record the page follows through `/api/jobs` and
//! the event stream. Two operations on one container are refused here,
//! before the container lock of the operation itself would refuse the
//! second; at most `max` run at once. On stop the server cancels every job
//! and waits for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::report::{Event, Out, Report};
use crate::session::Cancel;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Done,
    Failed,
}

/// A failure as the CLI prints it: the error text (CRIU's log excerpt
/// included), the hint, the exit status it would have.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub error: String,
    pub hint: String,
    pub exit_code: u8,
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Failure {
        Failure { error: e.to_string(), hint: e.hint().unwrap_or_default(), exit_code: e.exit_code() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    pub kind: &'static str,
    /// The container it acts on (the key of the one-per-container rule).
    pub container: String,
    pub what: String,
    pub state: State,
    pub started_unix: u64,
    pub elapsed_ms: u64,
    /// Bytes written so far (the checkpoint's images as they grow), and
    /// the rate, when the operation can be watched.
    pub bytes: u64,
    /// Bytes expected, when the operation says (0: unknown).
    pub expected: u64,
    pub rate_mib_s: f64,
    /// The step it is at, and the last steps it reported.
    pub step: String,
    pub steps: Vec<String>,
    /// Cancelled (from the page, or by the server's stop).
    pub cancelled: bool,
    pub result: Value,
    pub failure: Option<Failure>,
    #[serde(skip)]
    t0: Option<Instant>,
}

pub type Probe = Box<dyn Fn() -> u64 + Send + Sync>;

struct Entry {
    job: Job,
    probe: Option<Probe>,
    cancel: Arc<AtomicBool>,
}

/// The steps most kept per job.
const STEPS: usize = 30;

/// A job's `Report`: its events into its record (and its steps on stderr,
/// the server's log).
struct JobReport {
    jobs: Weak<Jobs>,
    id: u64,
}

impl Report for JobReport {
    fn event(&self, e: &Event<'_>) {
        let Some(jobs) = self.jobs.upgrade() else { return };
        match e {
            Event::Step(m) => eprintln!("docker-cr serve: job {}: {m}", self.id),
            Event::Warn(m) => eprintln!("docker-cr serve: job {}: warning: {m}", self.id),
            _ => {}
        }
        let mut l = jobs.lock();
        if let Some(en) = l.iter_mut().find(|en| en.job.id == self.id) {
            match e {
                Event::Step(m) | Event::Warn(m) => {
                    let m = if matches!(e, Event::Warn(_)) { format!("warning: {m}") } else { m.to_string() };
                    en.job.step = m.clone();
                    en.job.steps.push(m);
                    if en.job.steps.len() > STEPS {
                        en.job.steps.remove(0);
                    }
                }
                Event::Progress { done, expected, .. } => {
                    en.job.bytes = en.job.bytes.max(*done);
                    en.job.expected = *expected;
                }
                Event::ProgressEnd => {}
            }
        }
        drop(l);
        jobs.generation.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Jobs {
    list: Mutex<Vec<Entry>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicU64,
    /// Bumped on every change: the event stream sends jobs when it moves.
    pub generation: AtomicU64,
    max: usize,
    /// Finished jobs kept for the page.
    keep: usize,
}

/// Why a job was not started.
#[derive(Debug, PartialEq)]
pub enum Refused {
    Busy(String),
    Full(usize),
}

impl Jobs {
    pub fn new(max: usize) -> Arc<Jobs> {
        Arc::new(Jobs {
            list: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            generation: AtomicU64::new(0),
            max,
            keep: 50,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A job thread that panicked (panic = abort in release) cannot
        // leave the list half-changed: every change is one push or assign.
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `work` for `container` unless one runs for it already or the
    /// limit is reached.
    pub fn start(
        self: &Arc<Self>,
        kind: &'static str,
        container: &str,
        what: String,
        probe: Option<Probe>,
        work: impl FnOnce(Out, Cancel) -> Result<Value, Error> + Send + 'static,
    ) -> Result<u64, Refused> {
        let cancel = Arc::new(AtomicBool::new(false));
        let id = {
            let mut l = self.lock();
            let running: Vec<&Entry> = l.iter().filter(|e| e.job.state == State::Running).collect();
            if let Some(e) = running.iter().find(|e| e.job.container == container) {
                return Err(Refused::Busy(format!(
                    "container {container} is busy: job {} ({} {}) is running; wait for it to finish",
                    e.job.id, e.job.kind, e.job.what
                )));
            }
            if running.len() >= self.max {
                return Err(Refused::Full(self.max));
            }
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            l.push(Entry {
                job: Job {
                    id,
                    kind,
                    container: container.to_string(),
                    what,
                    state: State::Running,
                    started_unix,
                    elapsed_ms: 0,
                    bytes: 0,
                    expected: 0,
                    rate_mib_s: 0.0,
                    step: String::new(),
                    steps: Vec::new(),
                    cancelled: false,
                    result: Value::Null,
                    failure: None,
                    t0: Some(Instant::now()),
                },
                probe,
                cancel: Arc::clone(&cancel),
            });
            // Forget the oldest finished ones.
            while l.len() > self.keep {
                match l.iter().position(|e| e.job.state != State::Running) {
                    Some(i) => {
                        l.remove(i);
                    }
                    None => break,
                }
            }
            id
        };
        self.generation.fetch_add(1, Ordering::Relaxed);
        let me = Arc::clone(self);
        let out = Out::new(Arc::new(JobReport { jobs: Arc::downgrade(self), id }), false);
        let t = std::thread::Builder::new().name(format!("job-{id}")).spawn(move || {
            let r = work(out, Cancel::Server(cancel));
            me.finish(id, r);
        });
        match t {
            Ok(h) => {
                let mut th = self.threads.lock().unwrap_or_else(|p| p.into_inner());
                th.retain(|h| !h.is_finished());
                th.push(h);
                Ok(id)
            }
            Err(e) => {
                self.finish(id, Err(Error::host(format!("cannot start a thread for the job: {e}"), "")));
                Ok(id)
            }
        }
    }

    fn finish(&self, id: u64, r: Result<Value, Error>) {
        let mut l = self.lock();
        if let Some(e) = l.iter_mut().find(|e| e.job.id == id) {
            refresh(e);
            e.probe = None;
            match r {
                Ok(v) => {
                    e.job.state = State::Done;
                    e.job.result = v;
                }
                Err(err) => {
                    e.job.state = State::Failed;
                    e.job.failure = Some(Failure::from(&err));
                }
            }
        }
        drop(l);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Updates the running jobs' bytes and times; true if any runs.
    pub fn tick(&self) -> bool {
        let mut l = self.lock();
        let mut any = false;
        for e in l.iter_mut().filter(|e| e.job.state == State::Running) {
            refresh(e);
            any = true;
        }
        drop(l);
        if any {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        any
    }

    pub fn list(&self) -> Vec<Job> {
        self.lock().iter().rev().map(|e| e.job.clone()).collect()
    }

    pub fn get(&self, id: u64) -> Option<Job> {
        self.lock().iter().find(|e| e.job.id == id).map(|e| e.job.clone())
    }

    pub fn running(&self) -> usize {
        self.lock().iter().filter(|e| e.job.state == State::Running).count()
    }

    /// Is an operation running on this container (by name or ID)?
    pub fn busy(&self, container: &str) -> Option<u64> {
        self.lock().iter().find(|e| e.job.state == State::Running && e.job.container == container).map(|e| e.job.id)
    }

    /// Asks a running job to stop; false if there is no such running job.
    pub fn cancel(&self, id: u64) -> bool {
        let mut l = self.lock();
        let Some(e) = l.iter_mut().find(|e| e.job.id == id && e.job.state == State::Running) else { return false };
        e.cancel.store(true, Ordering::SeqCst);
        e.job.cancelled = true;
        drop(l);
        self.generation.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Asks every running job to stop (the server is stopping).
    pub fn cancel_all(&self) {
        let ids: Vec<u64> = self.lock().iter().filter(|e| e.job.state == State::Running).map(|e| e.job.id).collect();
        for id in ids {
            self.cancel(id);
        }
    }

    /// Waits for every job thread (at stop).
    pub fn join_all(&self) {
        let hs: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for h in hs {
            let _ = h.join();
        }
    }
}

fn refresh(e: &mut Entry) {
    if let Some(t0) = e.job.t0 {
        e.job.elapsed_ms = t0.elapsed().as_millis() as u64;
        if let Some(p) = &e.probe {
            e.job.bytes = e.job.bytes.max(p());
        }
        let secs = t0.elapsed().as_secs_f64();
        if secs > 0.0 {
            e.job.rate_mib_s = (e.job.bytes as f64 / (1 << 20) as f64 / secs * 10.0).round() / 10.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn one_job_per_container_and_a_limit() {
        let jobs = Jobs::new(2);
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let hold = |rx: Arc<Mutex<mpsc::Receiver<()>>>| {
            move |out: Out, _c: Cancel| {
                out.step("holding");
                let _ = rx.lock().unwrap().recv();
                Ok(serde_json::json!({"ok": true}))
            }
        };
        let a = jobs.start("checkpoint", "web", "x".into(), Some(Box::new(|| 4 << 20)), hold(rx.clone())).unwrap();
        assert!(
            matches!(jobs.start("restore", "web", "y".into(), None, hold(rx.clone())), Err(Refused::Busy(m)) if m.contains("job 1"))
        );
        jobs.start("checkpoint", "db", "z".into(), None, hold(rx.clone())).unwrap();
        assert_eq!(jobs.start("checkpoint", "cache", "z".into(), None, hold(rx.clone())), Err(Refused::Full(2)));
        assert!(jobs.tick());
        assert_eq!(jobs.get(a).unwrap().bytes, 4 << 20);
        assert_eq!(jobs.busy("web"), Some(a));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        jobs.join_all();
        assert_eq!(jobs.running(), 0);
        assert_eq!(jobs.get(a).unwrap().state, State::Done);
        assert_eq!(jobs.get(a).unwrap().steps, vec!["holding"], "its steps are in its record");
        let f = jobs
            .start("restore", "web", "y".into(), None, |_, _| {
                Err(Error::container("no such container: web", "check the name"))
            })
            .unwrap();
        jobs.join_all();
        let j = jobs.get(f).unwrap();
        assert_eq!(j.state, State::Failed);
        assert_eq!(
            j.failure,
            Some(Failure { error: "no such container: web".into(), hint: "check the name".into(), exit_code: 4 })
        );
        assert_eq!(jobs.list()[0].id, f, "newest first");
        // What the page reads: lower-case states, the failure's three fields.
        let v = serde_json::to_value(jobs.list()).unwrap();
        assert_eq!((v[0]["state"].as_str(), v[0]["kind"].as_str()), (Some("failed"), Some("restore")));
        assert_eq!(v[0]["failure"]["exit_code"], 4);
        assert!(v[0].get("t0").is_none());
        assert_eq!(v[1]["result"]["ok"], true);
    }

    #[test]
    fn a_job_is_cancelled_by_its_flag() {
        let jobs = Jobs::new(2);
        let id = jobs
            .start("checkpoint", "web", "x".into(), None, |_, c: Cancel| {
                while !c.is_set() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                c.check().map(|()| Value::Null)
            })
            .unwrap();
        assert!(jobs.cancel(id));
        jobs.join_all();
        let j = jobs.get(id).unwrap();
        assert!(j.cancelled && j.state == State::Failed);
        assert_eq!(j.failure.unwrap().exit_code, 130);
        assert!(!jobs.cancel(id), "it is no longer running");
    }
}
