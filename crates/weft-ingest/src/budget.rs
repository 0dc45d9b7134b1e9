//! Request bodies while they arrive: each takes its bytes from the receiver's in-flight budget
//! (`Limits::max_inflight_bytes`, shared by both receivers and all connections) as they come,
//! and gives up if it stalls. Without this, only whole requests were counted: a thousand
//! clients each part-way through a 16 MiB body held 16 GiB that no limit saw.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::PERMIT_BYTES;

/// How long a body may send nothing before it is given up on.
pub const STALL: Duration = Duration::from_secs(30);

/// Why a body was given up on.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Taking this body's bytes would put the requests in flight over the budget.
    #[error("more than {0} bytes of requests are in flight")]
    OverBudget(usize),
    /// No data came for the stall time.
    #[error("the request body stalled: nothing came for {}s", .0.as_secs_f64())]
    Stalled(Duration),
    /// The connection failed.
    #[error("could not read the request body: {0}")]
    Read(Box<dyn std::error::Error + Send + Sync>),
}

pin_project_lite::pin_project! {
    /// A request body whose bytes are counted against the budget until it ends (the whole
    /// request is then the receiver's to count) or is dropped.
    pub struct Budgeted<B> {
        #[pin]
        inner: B,
        #[pin]
        stall: tokio::time::Sleep,
        stall_after: Duration,
        budget: Arc<Semaphore>,
        budget_bytes: usize,
        held: Option<OwnedSemaphorePermit>,
        bytes: usize,
    }
}

impl<B> Budgeted<B> {
    /// `inner`, taking from `budget` (permits of [`PERMIT_BYTES`], `budget_bytes` in all) and
    /// given up on after `stall` without data.
    pub fn new(
        inner: B,
        budget: Arc<Semaphore>,
        budget_bytes: usize,
        stall: Duration,
    ) -> Budgeted<B> {
        Budgeted {
            inner,
            stall: tokio::time::sleep(stall),
            stall_after: stall,
            budget,
            budget_bytes,
            held: None,
            bytes: 0,
        }
    }
}

impl<B> Body for Budgeted<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = match this.inner.poll_frame(cx) {
            Poll::Ready(f) => f,
            Poll::Pending => {
                ready!(this.stall.as_mut().poll(cx));
                *this.held = None;
                return Poll::Ready(Some(Err(BodyError::Stalled(*this.stall_after))));
            }
        };
        match frame {
            Some(Ok(frame)) => {
                this.stall
                    .as_mut()
                    .reset(tokio::time::Instant::now() + *this.stall_after);
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.remaining();
                    let want = this.bytes.div_ceil(PERMIT_BYTES);
                    let have = this.held.as_ref().map_or(0, |p| p.num_permits());
                    if want > have {
                        let more = u32::try_from(want - have).unwrap_or(u32::MAX);
                        match this.budget.clone().try_acquire_many_owned(more) {
                            Ok(p) => match this.held.as_mut() {
                                Some(h) => h.merge(p),
                                None => *this.held = Some(p),
                            },
                            Err(_) => {
                                *this.held = None;
                                return Poll::Ready(Some(Err(BodyError::OverBudget(
                                    *this.budget_bytes,
                                ))));
                            }
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                *this.held = None;
                Poll::Ready(Some(Err(BodyError::Read(e.into()))))
            }
            None => {
                // the request is whole: from here the receiver counts it
                *this.held = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A body that yields its chunks, then ends or (`open`) waits forever, as a client that
    /// stopped sending does.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        open: bool,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.chunks.pop_front() {
                Some(c) => Poll::Ready(Some(Ok(Frame::data(c)))),
                None if self.open => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn chunks(sizes: &[usize], open: bool) -> Chunks {
        Chunks {
            chunks: sizes.iter().map(|&n| Bytes::from(vec![7u8; n])).collect(),
            open,
        }
    }

    #[tokio::test]
    async fn bodies_in_flight_share_the_budget_and_give_it_back_when_whole() {
        // 8 KiB in all
        let budget = Arc::new(Semaphore::new(8));
        let long = Duration::from_secs(60);
        // a client part-way through its body holds 6 KiB
        let mut first = Box::pin(Budgeted::new(
            chunks(&[4096, 2048], true),
            budget.clone(),
            8192,
            long,
        ));
        for _ in 0..2 {
            first.frame().await.unwrap().unwrap();
        }
        assert_eq!(budget.available_permits(), 2);
        // a second body gets 1 KiB in, then is refused at 3 KiB
        let mut second = Box::pin(Budgeted::new(
            chunks(&[1000, 2000], false),
            budget.clone(),
            8192,
            long,
        ));
        second.frame().await.unwrap().unwrap();
        let err = second.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, BodyError::OverBudget(8192)), "{err}");
        assert_eq!(
            err.to_string(),
            "more than 8192 bytes of requests are in flight"
        );
        // refused, it holds nothing
        assert_eq!(budget.available_permits(), 2);
        // the first client goes away: its share comes back
        drop(first);
        assert_eq!(budget.available_permits(), 8);
        // a whole body gives its share back at its end, before it is dropped
        let mut third = Box::pin(Budgeted::new(
            chunks(&[3000, 3000], false),
            budget.clone(),
            8192,
            long,
        ));
        let mut got = 0;
        while let Some(f) = third.frame().await {
            got += f.unwrap().into_data().unwrap().len();
            if got < 6000 {
                assert_eq!(budget.available_permits(), 8 - 3);
            }
        }
        assert_eq!(got, 6000);
        assert_eq!(budget.available_permits(), 8);
    }

    #[tokio::test]
    async fn a_body_that_stops_sending_is_given_up_with_its_share_returned() {
        let budget = Arc::new(Semaphore::new(8));
        let stall = Duration::from_millis(50);
        let mut body = Box::pin(Budgeted::new(
            chunks(&[2048], true),
            budget.clone(),
            8192,
            stall,
        ));
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.available_permits(), 6);
        let t = std::time::Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, BodyError::Stalled(_)), "{err}");
        assert!(t.elapsed() >= stall);
        assert_eq!(budget.available_permits(), 8);
    }
}
