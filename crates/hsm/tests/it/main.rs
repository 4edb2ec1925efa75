//! stub
mod support {}
