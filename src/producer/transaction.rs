//! The transactional producer's state machine (Java's `TransactionManager`), as application
//! threads see it.
//!
//! Threads: application threads call the transaction methods on `Producer` and check the state
//! in `send`; the sender thread carries out the broker requests (FindCoordinator,
//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) as
//! `TxnCommand`s sent through a channel, answering on a reply channel, and marks the
//! transaction failed when a record of it fails.
//!
//! Locks: `Transactions::inner` (guards: state, the error that caused an error state, the
//! command waiting for its answer) is held only to read or change those fields, never while
//! waiting for the sender thread.
//!
//! States and moves (a misuse returns `IllegalState` naming the state):
//!
//! ```text
//! Uninitialized --init_transactions--> Ready --begin_transaction--> InTransaction
//! InTransaction --commit_transaction--> Committing --ok--> Ready
//! InTransaction | AbortableError --abort_transaction--> Aborting --ok--> Ready
//! any failure of a record or request in a transaction --> AbortableError
//! fencing, authorization of the transactional id, unsupported protocol --> FatalError (final)
//! ```

use crate::error::{Error, ErrorKind, Result};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::time::Duration;

/// Where a transactional producer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// `init_transactions` has not completed yet.
    Uninitialized,
    /// `init_transactions` is running.
    Initializing,
    /// Ready to begin a transaction.
    Ready,
    /// A transaction is open: records can be sent.
    InTransaction,
    /// `commit_transaction` is running.
    Committing,
    /// `abort_transaction` is running.
    Aborting,
    /// Something in the current transaction failed: only `abort_transaction` is allowed.
    AbortableError,
    /// The producer cannot go on (fenced, not authorized, ...): close it.
    FatalError,
}

/// The consumer group whose offsets a transaction commits (Java's `ConsumerGroupMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The group's generation, or -1 when unknown (then the broker cannot fence zombies).
    pub generation_id: i32,
    /// The member id, or "" when unknown.
    pub member_id: String,
    /// The static member id, if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata naming only the group (generation -1, no member).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// One partition's offset to commit in a transaction: the offset of the next record to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// Free-form metadata stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetToCommit {
    /// `offset` of `topic`-`partition`, without metadata.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        OffsetToCommit { topic: topic.into(), partition, offset, metadata: None }
    }
}

/// Work the sender thread does for a transaction method.
#[derive(Debug)]
pub(crate) enum TxnRequest {
    /// FindCoordinator + InitProducerId.
    Init,
    /// AddOffsetsToTxn + FindCoordinator(GROUP) + TxnOffsetCommit.
    SendOffsets { group: ConsumerGroupMetadata, offsets: Vec<OffsetToCommit> },
    /// EndTxn (when the transaction reached the coordinator at all).
    End { commit: bool },
}

/// A request and where to answer it.
#[derive(Debug)]
pub(crate) struct TxnCommand {
    pub(crate) request: TxnRequest,
    pub(crate) reply: Sender<Result<()>>,
}

struct Inner {
    // guards: everything below
    state: TxnState,
    error: Option<Error>,
    /// A command whose answer a timed-out call left behind, with the state it moves to.
    pending: Option<(&'static str, Receiver<Result<()>>)>,
}

/// The transaction state shared by application threads and the sender thread.
pub(crate) struct Transactions {
    pub(crate) transactional_id: String,
    inner: Mutex<Inner>,
    commands: Sender<TxnCommand>,
}

impl Transactions {
    pub(crate) fn new(transactional_id: String) -> (Self, Receiver<TxnCommand>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let t = Transactions {
            transactional_id,
            inner: Mutex::new(Inner { state: TxnState::Uninitialized, error: None, pending: None }),
            commands: tx,
        };
        (t, rx)
    }

    pub(crate) fn state(&self) -> TxnState {
        self.inner.lock().state
    }

    fn illegal(&self, op: &str, state: TxnState) -> Error {
        Error::new(
            ErrorKind::IllegalState,
            format!("cannot {op}: transactional producer '{}' is in state {state:?}", self.transactional_id),
        )
    }

    fn error_state(&self, inner: &Inner, op: &str) -> Error {
        match &inner.error {
            Some(e) if inner.state == TxnState::AbortableError => Error::new(
                e.kind(),
                format!("cannot {op}: the transaction failed and must be aborted (abort_transaction): {e}"),
            ),
            Some(e) => e.clone().context(format!("cannot {op}: the producer failed fatally")),
            None => self.illegal(op, inner.state),
        }
    }

    /// Runs on: sender thread. The error that made the transaction abortable, while it is.
    pub(crate) fn abortable_error(&self) -> Option<Error> {
        let inner = self.inner.lock();
        (inner.state == TxnState::AbortableError).then(|| inner.error.clone()).flatten()
    }

    /// Runs on: application threads, in `send`.
    pub(crate) fn check_send(&self) -> Result<()> {
        let inner = self.inner.lock();
        match inner.state {
            TxnState::InTransaction => Ok(()),
            TxnState::AbortableError | TxnState::FatalError => Err(self.error_state(&inner, "send")),
            s => Err(self.illegal("send outside a transaction (call begin_transaction first)", s)),
        }
    }

    /// Runs on: sender thread. A record or request of the transaction failed.
    pub(crate) fn fail(&self, error: &Error) {
        let mut inner = self.inner.lock();
        if error.is_fatal() {
            inner.state = TxnState::FatalError;
            inner.error = Some(error.clone());
        } else if matches!(inner.state, TxnState::InTransaction | TxnState::Committing) {
            inner.state = TxnState::AbortableError;
            inner.error.get_or_insert_with(|| error.clone());
        }
    }

    /// Runs on: sender thread. The producer cannot go on.
    pub(crate) fn fatal(&self, error: &Error) {
        let mut inner = self.inner.lock();
        inner.state = TxnState::FatalError;
        inner.error = Some(error.clone());
    }

    /// Moves from one of `from` to `during`, or says why not.
    fn enter(&self, op: &str, from: &[TxnState], during: TxnState) -> Result<()> {
        let mut inner = self.inner.lock();
        // A failed transaction answers with its cause, as Java's maybeFailWithError does.
        let failed = inner.state == TxnState::FatalError
            || (inner.state == TxnState::AbortableError && !from.contains(&TxnState::AbortableError));
        if failed {
            return Err(self.error_state(&inner, op));
        }
        if let Some((pending, _)) = &inner.pending {
            // Java: "a previous call timed out and must be retried"; nothing changes.
            return Err(self.illegal(
                &format!("{op}: {pending} timed out earlier and must be called again first"),
                inner.state,
            ));
        }
        if !from.contains(&inner.state) {
            return Err(self.illegal(op, inner.state));
        }
        inner.state = during;
        Ok(())
    }

    /// Sends `request` to the sender thread and waits up to `timeout` for its answer; the state
    /// becomes `done` on success. A timed-out call leaves the request running: calling the same
    /// method again waits for the same answer.
    fn run(
        &self,
        op: &'static str,
        request: TxnRequest,
        timeout: Duration,
        wake: &dyn Fn(),
        done: TxnState,
    ) -> Result<()> {
        let rx = {
            let mut inner = self.inner.lock();
            match inner.pending.take() {
                Some((pending_op, rx)) if pending_op == op => rx,
                Some(other) => {
                    let e = self.illegal(&format!("{op} while {} is still running", other.0), inner.state);
                    inner.pending = Some(other);
                    return Err(e);
                }
                None => {
                    let (reply, rx) = crossbeam_channel::bounded(1);
                    self.commands
                        .send(TxnCommand { request, reply })
                        .map_err(|_| Error::new(ErrorKind::Closed, "producer is closed"))?;
                    wake();
                    rx
                }
            }
        };
        let answer = match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                self.inner.lock().pending = Some((op, rx));
                return Err(Error::timeout(format!(
                    "{op} did not complete within {} ms; call it again to keep waiting",
                    timeout.as_millis()
                )));
            }
            Err(_) => Err(Error::new(ErrorKind::Closed, format!("producer closed during {op}"))),
        };
        let mut inner = self.inner.lock();
        match answer {
            Ok(()) => {
                if matches!(inner.state, TxnState::AbortableError | TxnState::FatalError) {
                    // Something failed while the request ran (a record, a fencing answer).
                    return Err(self.error_state(&inner, op));
                }
                inner.state = done;
                inner.error = None;
                Ok(())
            }
            Err(e) => {
                let init = op == "init_transactions";
                if e.is_fatal() || inner.state == TxnState::FatalError || (init && !e.is_retriable()) {
                    inner.state = TxnState::FatalError;
                    inner.error = Some(e.clone());
                } else if init {
                    inner.state = TxnState::Uninitialized;
                } else {
                    inner.state = TxnState::AbortableError;
                    inner.error.get_or_insert_with(|| e.clone());
                }
                Err(e)
            }
        }
    }

    pub(crate) fn init(&self, timeout: Duration, wake: &dyn Fn()) -> Result<()> {
        {
            let inner = self.inner.lock();
            if inner.state == TxnState::Initializing && inner.pending.is_some() {
                drop(inner);
                return self.run("init_transactions", TxnRequest::Init, timeout, wake, TxnState::Ready);
            }
        }
        self.enter("init_transactions", &[TxnState::Uninitialized], TxnState::Initializing)?;
        self.run("init_transactions", TxnRequest::Init, timeout, wake, TxnState::Ready)
    }

    pub(crate) fn begin(&self) -> Result<()> {
        self.enter("begin_transaction", &[TxnState::Ready], TxnState::InTransaction)
    }

    pub(crate) fn send_offsets(
        &self,
        offsets: Vec<OffsetToCommit>,
        group: ConsumerGroupMetadata,
        timeout: Duration,
        wake: &dyn Fn(),
    ) -> Result<()> {
        {
            let inner = self.inner.lock();
            if inner.state != TxnState::InTransaction {
                return Err(match inner.state {
                    TxnState::AbortableError | TxnState::FatalError => {
                        self.error_state(&inner, "send_offsets_to_transaction")
                    }
                    s => self.illegal("send_offsets_to_transaction outside a transaction", s),
                });
            }
        }
        let request = TxnRequest::SendOffsets { group, offsets };
        self.run("send_offsets_to_transaction", request, timeout, wake, TxnState::InTransaction)
    }

    /// `flush` delivers every record first; a failed record makes the commit fail (and the
    /// transaction abortable).
    pub(crate) fn commit(
        &self,
        timeout: Duration,
        wake: &dyn Fn(),
        flush: &dyn Fn(Duration) -> Result<()>,
    ) -> Result<()> {
        let resuming = {
            let inner = self.inner.lock();
            inner.state == TxnState::Committing && inner.pending.is_some()
        };
        if !resuming {
            self.enter("commit_transaction", &[TxnState::InTransaction], TxnState::Committing)?;
            if let Err(e) = flush(timeout) {
                let mut inner = self.inner.lock();
                if inner.state == TxnState::Committing {
                    inner.state = TxnState::InTransaction; // nothing was committed: commit again later
                }
                return Err(e);
            }
            let inner = self.inner.lock();
            if inner.state != TxnState::Committing {
                return Err(self.error_state(&inner, "commit_transaction"));
            }
        }
        self.run("commit_transaction", TxnRequest::End { commit: true }, timeout, wake, TxnState::Ready)
    }

    /// `abort_queued` fails the records not sent yet; in-flight ones finish first.
    pub(crate) fn abort(&self, timeout: Duration, wake: &dyn Fn(), abort_queued: &dyn Fn()) -> Result<()> {
        let resuming = {
            let inner = self.inner.lock();
            inner.state == TxnState::Aborting && inner.pending.is_some()
        };
        if !resuming {
            self.enter(
                "abort_transaction",
                &[TxnState::InTransaction, TxnState::AbortableError, TxnState::Committing],
                TxnState::Aborting,
            )?;
            abort_queued();
        }
        self.run("abort_transaction", TxnRequest::End { commit: false }, timeout, wake, TxnState::Ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_all(rx: Receiver<TxnCommand>, answer: impl Fn(&TxnRequest) -> Result<()> + Send + 'static) {
        std::thread::spawn(move || {
            for cmd in rx {
                let _ = cmd.reply.send(answer(&cmd.request));
            }
        });
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn misuse_returns_illegal_state_naming_the_state() {
        let (t, rx) = Transactions::new("tx".into());
        answer_all(rx, |_| Ok(()));
        let e = t.begin().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IllegalState);
        assert!(e.to_string().contains("Uninitialized"), "{e}");
        assert_eq!(t.check_send().unwrap_err().kind(), ErrorKind::IllegalState);
        t.init(T, &|| {}).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
        assert!(t.init(T, &|| {}).is_err(), "init twice");
        let e = t.commit(T, &|| {}, &|_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("Ready"), "commit without a transaction: {e}");
        assert!(t.check_send().unwrap_err().to_string().contains("begin_transaction"));
        t.begin().unwrap();
        assert_eq!(t.begin().unwrap_err().kind(), ErrorKind::IllegalState, "begin twice");
        t.check_send().unwrap();
        t.commit(T, &|| {}, &|_| Ok(())).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
        assert_eq!(
            t.commit(T, &|| {}, &|_| Ok(())).unwrap_err().kind(),
            ErrorKind::IllegalState,
            "commit twice"
        );
        assert_eq!(
            t.abort(T, &|| {}, &|| {}).unwrap_err().kind(),
            ErrorKind::IllegalState,
            "abort without txn"
        );
    }

    #[test]
    fn a_failed_record_makes_commit_fail_and_abort_recover() {
        let (t, rx) = Transactions::new("tx".into());
        answer_all(rx, |_| Ok(()));
        t.init(T, &|| {}).unwrap();
        t.begin().unwrap();
        t.fail(&Error::new(ErrorKind::Broker(crate::KafkaCode::INVALID_RECORD), "bad record"));
        assert_eq!(t.state(), TxnState::AbortableError);
        let e = t.check_send().unwrap_err();
        assert!(e.to_string().contains("abort_transaction"), "{e}");
        // The commit answers with the cause (Java's maybeFailWithError), not a bare IllegalState.
        let e = t.commit(T, &|| {}, &|_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(crate::KafkaCode::INVALID_RECORD), "{e}");
        assert!(e.to_string().contains("must be aborted") && e.to_string().contains("bad record"), "{e}");
        t.abort(T, &|| {}, &|| {}).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
        t.begin().unwrap();
    }

    #[test]
    fn a_failing_commit_leaves_abort_possible() {
        let (t, rx) = Transactions::new("tx".into());
        answer_all(rx, |r| match r {
            TxnRequest::End { commit: true } => Err(Error::timeout("coordinator did not answer")),
            _ => Ok(()),
        });
        t.init(T, &|| {}).unwrap();
        t.begin().unwrap();
        assert!(t.commit(T, &|| {}, &|_| Ok(())).is_err());
        assert_eq!(t.state(), TxnState::AbortableError);
        t.abort(T, &|| {}, &|| {}).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
    }

    #[test]
    fn fencing_is_fatal_and_final() {
        let (t, rx) = Transactions::new("tx".into());
        answer_all(rx, |r| match r {
            TxnRequest::End { .. } => Err(Error::broker(crate::KafkaCode::PRODUCER_FENCED, "end txn")),
            _ => Ok(()),
        });
        t.init(T, &|| {}).unwrap();
        t.begin().unwrap();
        let e = t.commit(T, &|| {}, &|_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced);
        assert_eq!(t.state(), TxnState::FatalError);
        assert_eq!(t.abort(T, &|| {}, &|| {}).unwrap_err().kind(), ErrorKind::Fenced);
        assert_eq!(t.begin().unwrap_err().kind(), ErrorKind::Fenced);
        assert_eq!(t.check_send().unwrap_err().kind(), ErrorKind::Fenced);
    }

    #[test]
    fn a_timed_out_commit_must_be_called_again_before_anything_else() {
        let (t, rx) = Transactions::new("tx".into());
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
        std::thread::spawn(move || {
            for cmd in rx {
                if let TxnRequest::End { commit: true } = cmd.request {
                    let _ = go_rx.recv();
                }
                let _ = cmd.reply.send(Ok(()));
            }
        });
        t.init(T, &|| {}).unwrap();
        t.begin().unwrap();
        let e = t.commit(Duration::from_millis(10), &|| {}, &|_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = t.abort(T, &|| {}, &|| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IllegalState);
        assert!(e.to_string().contains("commit_transaction timed out earlier"), "{e}");
        assert_eq!(t.state(), TxnState::Committing, "the refused call changed nothing");
        go_tx.send(()).unwrap();
        t.commit(T, &|| {}, &|_| Ok(())).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
    }

    #[test]
    fn a_timed_out_call_can_be_resumed() {
        let (t, rx) = Transactions::new("tx".into());
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
        std::thread::spawn(move || {
            for cmd in rx {
                let _ = go_rx.recv();
                let _ = cmd.reply.send(Ok(()));
            }
        });
        let e = t.init(Duration::from_millis(10), &|| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        go_tx.send(()).unwrap();
        t.init(T, &|| {}).unwrap();
        assert_eq!(t.state(), TxnState::Ready);
    }
}
