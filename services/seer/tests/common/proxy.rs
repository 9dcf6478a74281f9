//! A fault-injecting TCP proxy for the fault suite: forwards every connection to a target until
//! cut, then closes the open connections and drops new ones at once (a peer that vanishes and
//! refuses to come back, as a partitioned network looks to a client), until healed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    /// Bumped on every cut: connections opened before it end.
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0: any) and forwards to `target`; runs on `rt`.
    pub fn start(rt: &tokio::runtime::Runtime, listen: SocketAddr, target: SocketAddr) -> Proxy {
        let listener = rt.block_on(TcpListener::bind(listen)).expect("proxy port");
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (flag, cut_rx) = (open.clone(), cuts.subscribe());
        let task = rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    let _ = client.set_nodelay(true);
                    let _ = upstream.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            open,
            cuts,
            task,
        }
    }

    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
