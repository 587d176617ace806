//! Whose fault a broken request body is, and what a watch of it reports.

use super::*;

fn boxed(error: impl std::error::Error + Send + Sync + 'static) -> BoxError {
    Box::new(error)
}

#[test]
fn client_body_errors_are_told_apart_by_their_cause() {
    let malformed = std::io::Error::new(std::io::ErrorKind::InvalidInput, "Invalid chunk size");
    assert_eq!(
        ClientBodyError::of(&boxed(malformed)),
        ClientBodyError::Malformed
    );
    let cut = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "early eof");
    assert_eq!(ClientBodyError::of(&boxed(cut)), ClientBodyError::Aborted);
    let stalled = IdleTimeout(Duration::from_millis(200));
    assert_eq!(
        ClientBodyError::of(&boxed(stalled)),
        ClientBodyError::TooSlow
    );
}

#[test]
fn a_watch_blames_the_client_for_its_failure_or_for_a_deadline_while_waiting_for_it() {
    let watch = ClientBodyWatch::default();
    assert_eq!(watch.blame(false), None);
    assert_eq!(watch.blame(true), None, "not waiting for the client");
    watch.waiting.store(true, Ordering::Relaxed);
    assert_eq!(watch.blame(false), None, "waiting is no failure by itself");
    assert_eq!(watch.blame(true), Some(ClientBodyError::TooSlow));
    watch.fail(ClientBodyError::Malformed);
    watch.fail(ClientBodyError::Aborted);
    assert_eq!(
        watch.blame(false),
        Some(ClientBodyError::Malformed),
        "the first failure stays"
    );
}

#[tokio::test]
async fn a_watched_body_reports_its_failure_as_the_clients() {
    // "hello", then a broken chunk where the trailers would be.
    let bad_chunk = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk");
    let failing = Full::new(Bytes::from_static(b"hello"))
        .map_err(|never| -> BoxError { match never {} })
        .with_trailers(async move { Some(Err(boxed(bad_chunk))) })
        .boxed();
    let watch = Arc::new(ClientBodyWatch::default());
    let body = from_client(failing, watch.clone());
    let error = match buffer(body, 1024, Duration::from_secs(1)).await {
        Err(BufferError::Read(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        error.downcast_ref::<ClientBodyError>(),
        Some(&ClientBodyError::Malformed)
    );
    assert_eq!(watch.failure(), Some(ClientBodyError::Malformed));
}
