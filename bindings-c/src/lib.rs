//! C bindings for admit (work in progress).
