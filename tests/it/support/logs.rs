//! Production's JSON log lines, captured per thread. One global subscriber serves the whole test
//! binary and writes to the capture of the thread that logs: scoped subscribers (`set_default`)
//! race over tracing's cached callsite interest when tests run in parallel, and lose lines.

use std::cell::RefCell;
use std::sync::Once;

use tracing_subscriber::fmt::MakeWriter;

/// Log output captured in memory, as a writer for tracing-subscriber.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

thread_local! {
    static SINK: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// Writes to this thread's capture, if any; else nowhere.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        SINK.with(|sink| {
            if let Some(captured) = sink.borrow_mut().as_mut() {
                captured.write(bytes)
            } else {
                Ok(bytes.len())
            }
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for ThreadSink {
    type Writer = ThreadSink;
    fn make_writer(&'w self) -> ThreadSink {
        ThreadSink
    }
}

/// Runs `work` (on this thread: a `#[tokio::test]` runtime) and returns what it logged, in
/// production's JSON format at `INFO`.
pub async fn capturing<F: Future>(work: F) -> (F::Output, String) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = api_tokens::telemetry::json_lines(tracing::Level::INFO, ThreadSink);
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
    let captured = Captured::default();
    SINK.with(|sink| *sink.borrow_mut() = Some(captured.clone()));
    let output = work.await;
    SINK.with(|sink| *sink.borrow_mut() = None);
    (output, captured.text())
}
