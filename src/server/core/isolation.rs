//! Isolation of application code: handlers, authenticators and authorizers run inside
//! `catch_unwind`, so a panic in them is logged and counted (`handler_panics` on `/metrics`)
//! and costs only the connection it happened on, never the worker and its other connections.
//!
//! It decides nothing about the failed connection: each call site says what a panic means
//! there (an `error`, a close 1011, a 500, a refusal).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::WorkerCore;
use crate::service::stats::bump;

impl WorkerCore {
    /// Runs `f` (application code); `None` if it panicked, which is logged and counted.
    pub(super) fn isolated<R>(&mut self, what: &str, f: impl FnOnce(&mut Self) -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(result) => Some(result),
            Err(panic) => {
                self.panicked(what, &*panic);
                None
            }
        }
    }

    /// `isolated` for application code that needs nothing of the worker (an authorizer):
    /// no `&mut self`, so the caller can lend it what the worker holds, without a clone.
    pub(super) fn isolated_apart<R>(&self, what: &str, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(result) => Some(result),
            Err(panic) => {
                self.panicked(what, &*panic);
                None
            }
        }
    }

    /// Logs and counts a panic of application code.
    fn panicked(&self, what: &str, panic: &(dyn std::any::Any + Send)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".to_string());
        log::error!("worker {}: {what} panicked: {message}", self.index);
        bump(&self.stats().handler_panics, 1);
    }
}
