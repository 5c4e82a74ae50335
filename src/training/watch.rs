//! A line of TCP from each worker to `churn tracker`, held open for the whole job: the tracker
//! knows a worker is lost the moment its process dies, and ends every worker of a failed job at
//! once.
//!
//! Why beside the collective: the library's tracker holds no connection to a running worker; it
//! tells the others of a failure only across hosts (it skips the failing worker's host); and a
//! collective call waits for a silent peer up to the collective's timeout (long, so that workers
//! with uneven shards can wait for each other), or, when a peer dies at the wrong moment inside
//! the library, for ever. The watch carries no training data: a hello, then silence until the
//! worker says it is done or the tracker says stop.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The watch port workers use; by default the tracker's port + 1.
pub const ENV_WATCH_PORT: &str = "CHURN_WATCH_PORT";
const HELLO: &str = "churn-watch";
const ACK: &str = "ok";
const DONE: &str = "done";
const STOP: &str = "stop";

/// The watch port beside a tracker on `tracker_port`.
pub fn default_port(tracker_port: u16) -> Option<u16> {
    tracker_port.checked_add(1)
}

/// Run once when the tracker stops the job, before the process ends (the lead marks its MLflow
/// run FAILED).
pub type OnStop = Box<dyn FnOnce(&str) + Send>;

/// How long the stop hook may take before the process ends anyway.
const HOOK_LIMIT: Duration = Duration::from_secs(15);

/// A connection to `host:port` (its first address) within `timeout`.
pub fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
    TcpStream::connect_timeout(&addr, timeout)
}

/// A worker's end: ends the process when the tracker says the job stopped, or is gone.
pub struct Watch {
    stream: TcpStream,
    /// Set once this worker ends on its own: the line no longer stops it.
    done: Arc<AtomicBool>,
    on_stop: Arc<Mutex<Option<OnStop>>>,
}

impl Watch {
    /// Connects and, once the tracker acknowledges (anything else on the port is no tracker),
    /// starts the thread that ends this process when the job stops elsewhere.
    pub fn start(host: &str, port: u16, task: &str, rank: usize) -> std::io::Result<Watch> {
        let mut stream = connect(host, port, Duration::from_secs(5))?;
        writeln!(stream, "{HELLO} {rank} {}", task.replace(char::is_whitespace, "_"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut ack = String::new();
        reader.read_line(&mut ack)?;
        if ack.trim() != ACK {
            return Err(std::io::Error::other("what answers there is not churn tracker"));
        }
        stream.set_read_timeout(None)?;
        let done = Arc::new(AtomicBool::new(false));
        let on_stop: Arc<Mutex<Option<OnStop>>> = Arc::new(Mutex::new(None));
        let (flag, hook, task) = (done.clone(), on_stop.clone(), task.to_string());
        std::thread::spawn(move || {
            let mut line = String::new();
            let heard = reader.read_line(&mut line);
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let why = match heard {
                Ok(n) if n > 0 => line.trim().strip_prefix(STOP).unwrap_or(line.trim()).trim().to_string(),
                _ => "the tracker is gone".to_string(),
            };
            eprintln!("error: worker {task}: the job stopped: {why}");
            if let Some(hook) = hook.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    hook(&format!("the job stopped: {why}"));
                    let _ = tx.send(());
                });
                let _ = rx.recv_timeout(HOOK_LIMIT);
            }
            // SAFETY: ends the process at once. The main thread may be inside the library, whose
            // destructors must not run under it (`exit` would run them).
            unsafe { libc::_exit(1) };
        });
        Ok(Watch { stream, done, on_stop })
    }

    /// What to do when the tracker stops the job, before the process ends.
    pub fn on_stop(&self, hook: OnStop) {
        *self.on_stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// This worker ends on its own from now on (its training is over, or failed and it says
    /// so): the tracker is told, and its word or its end no longer stops the process.
    pub fn done(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            let _ = writeln!(&self.stream, "{DONE}");
        }
    }
}

impl Drop for Watch {
    /// Closes the line without saying done: a worker that unwinds without finishing or failing
    /// (a panic) is seen as gone.
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// What the tracker's end sees of a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Sighting {
    Watching {
        rank: usize,
        task: String,
    },
    /// The worker said it ends on its own.
    Done {
        rank: usize,
    },
    /// The connection closed without that: the process died or the network broke.
    Gone {
        rank: usize,
    },
}

/// The tracker's end: every worker's line, and the means to stop them all.
pub struct Watchers {
    streams: Arc<Mutex<Vec<TcpStream>>>,
    pub port: u16,
}

impl Watchers {
    /// Listens on `host:port`; what each connection shows is passed to `tell`.
    pub fn listen(
        host: &str,
        port: u16,
        tell: impl Fn(Sighting) + Send + Clone + 'static,
    ) -> std::io::Result<Watchers> {
        let listener = TcpListener::bind((host, port))?;
        let port = listener.local_addr()?.port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let kept = streams.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (kept, tell) = (kept.clone(), tell.clone());
                std::thread::spawn(move || follow(conn, &kept, &tell));
            }
        });
        Ok(Watchers { streams, port })
    }

    /// Tells every worker still watching that the job stopped, and why.
    pub fn stop(&self, why: &str) {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for s in streams.iter() {
            let _ = writeln!(&*s, "{STOP} {}", why.replace('\n', " "));
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// One worker's line, from its hello to its end.
fn follow(conn: TcpStream, kept: &Mutex<Vec<TcpStream>>, tell: &impl Fn(Sighting)) {
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    let mut hello = String::new();
    if reader.read_line(&mut hello).is_err() {
        return;
    }
    let mut words = hello.split_whitespace();
    let (Some(HELLO), Some(Ok(rank))) = (words.next(), words.next().map(str::parse::<usize>)) else { return };
    if writeln!(writer, "{ACK}").is_err() {
        return;
    }
    kept.lock().unwrap_or_else(|e| e.into_inner()).push(writer);
    tell(Sighting::Watching { rank, task: words.next().unwrap_or_default().to_string() });
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.trim() == DONE => return tell(Sighting::Done { rank }),
            Ok(n) if n > 0 => continue,
            _ => return tell(Sighting::Gone { rank }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn wait(rx: &mpsc::Receiver<Sighting>) -> Sighting {
        rx.recv_timeout(Duration::from_secs(10)).expect("a sighting")
    }

    #[test]
    fn a_worker_that_ends_on_its_own_is_done_and_one_whose_line_breaks_is_gone() {
        let (tx, rx) = mpsc::channel();
        let watchers = Watchers::listen("127.0.0.1", 0, move |s| tx.send(s).unwrap()).unwrap();
        let w = Watch::start("127.0.0.1", watchers.port, "task a", 0).unwrap();
        assert_eq!(wait(&rx), Sighting::Watching { rank: 0, task: "task_a".into() });
        w.done();
        assert_eq!(wait(&rx), Sighting::Done { rank: 0 });
        drop(w);

        // Unwinding without finishing or failing: gone, not done.
        let w = Watch::start("127.0.0.1", watchers.port, "c", 1).unwrap();
        assert_eq!(wait(&rx), Sighting::Watching { rank: 1, task: "c".into() });
        drop(w);
        assert_eq!(wait(&rx), Sighting::Gone { rank: 1 });

        // A process that dies: its connection closes without a word.
        let mut raw = TcpStream::connect(("127.0.0.1", watchers.port)).unwrap();
        writeln!(raw, "{HELLO} 2 b").unwrap();
        assert_eq!(wait(&rx), Sighting::Watching { rank: 2, task: "b".into() });
        drop(raw);
        assert_eq!(wait(&rx), Sighting::Gone { rank: 2 });

        // Something else on the port is not taken for a tracker.
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        std::thread::spawn(move || {
            // Answers the hello, then holds the connection until the worker lets go: closing
            // with the hello unread would reset it before the answer is read.
            let (c, _) = other.accept().unwrap();
            let mut reader = std::io::BufReader::new(c.try_clone().unwrap());
            let mut hello = String::new();
            let _ = reader.read_line(&mut hello);
            let _ = writeln!(&c, "HTTP/1.1 400 Bad Request");
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let err = Watch::start("127.0.0.1", port, "d", 0).err().expect("no watch");
        assert!(err.to_string().contains("not churn tracker"), "{err}");

        // Something else that connects is ignored.
        let mut stranger = TcpStream::connect(("127.0.0.1", watchers.port)).unwrap();
        writeln!(stranger, "GET / HTTP/1.1").unwrap();
        drop(stranger);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn stop_reaches_every_worker_still_watching() {
        let (tx, rx) = mpsc::channel();
        let watchers = Watchers::listen("127.0.0.1", 0, move |s| tx.send(s).unwrap()).unwrap();
        let mut raw = TcpStream::connect(("127.0.0.1", watchers.port)).unwrap();
        writeln!(raw, "{HELLO} 1 x").unwrap();
        wait(&rx);
        watchers.stop("worker 0 was lost\nsecond line");
        let mut reader = BufReader::new(raw.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), ACK, "the tracker acknowledges");
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "stop worker 0 was lost second line");
    }
}
