//! Clients reached through several fields and through wrappers.
use std::sync::Arc;

use crate::prelude::*;

pub struct Inner {
    client: Client,
    spare: Option<Client>,
    pool: Vec<Client>,
    shared: Arc<Client>,
}

pub struct Outer {
    inner: Inner,
}

pub struct Agent {
    outer: Outer,
    embedder: Option<Embedder>,
}

impl Agent {
    // Points: the client's `chat`, two fields deep, through an Option and through an Arc.
    pub fn deep(&self) -> String {
        self.outer.inner.client.chat("x")
    }

    pub fn spare_chat(&self) -> String {
        self.outer.inner.spare.as_ref().unwrap().chat("y")
    }

    pub fn shared_chat(&self) -> String {
        self.outer.inner.shared.chat("z")
    }

    // Points: the client bound by `if let`, and by a `for` loop over a Vec of clients.
    pub fn spare_if_let(&self) -> String {
        if let Some(c) = &self.outer.inner.spare {
            c.chat("a")
        } else {
            String::new()
        }
    }

    pub fn pool_chat(&self) {
        for c in &self.outer.inner.pool {
            c.chat("b");
        }
    }

    // Points: a method of the embedder, bound to a local first; an associated function.
    pub fn embed(&self) -> Vec<f32> {
        let e = self.embedder.as_ref().expect("configured");
        e.embed("q")
    }

    pub fn embed_static() -> Vec<f32> {
        Embedder::embed_one("q")
    }

    // Not points: constructors, clones, the wrappers' own methods, other client methods.
    pub fn make() -> Client {
        Client::new()
    }

    pub fn copy(&self) -> Client {
        self.outer.inner.client.clone()
    }

    pub fn has_spare(&self) -> bool {
        self.outer.inner.spare.is_some()
    }

    pub fn spare_cloned(&self) -> bool {
        self.outer.inner.spare.clone().is_some()
    }

    pub fn count(&self) -> usize {
        self.outer.inner.pool.len()
    }

    pub fn tokens(&self) -> usize {
        self.outer.inner.client.tokens()
    }

    pub fn spare_tokens(&self) -> usize {
        match &self.outer.inner.spare {
            Some(c) => c.tokens(),
            None => 0,
        }
    }

    pub fn embedder_ready(&self) -> bool {
        self.embedder.is_some()
    }

    pub fn clone_embedder(&self) -> Option<Embedder> {
        self.embedder.clone()
    }

    pub fn new_embedder() -> Embedder {
        Embedder::new()
    }
}
