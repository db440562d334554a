//! Python bindings for admit (work in progress).
