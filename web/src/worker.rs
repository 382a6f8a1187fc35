//! The page's side of the model worker (`web-worker`, started from trunk's `worker_loader.js`):
//! one request at a time, awaited as a future; progress and status lines go straight to the page.
//! [`Client::restart`] ends the worker, whatever it is doing (the one way to stop wasm in the
//! middle of a decode), and the next request starts a fresh one that loads the model from the
//! Cache API without a warm-up.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Array, ArrayBuffer, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_protocol::{Loaded, Reply, Request};
use web_sys::{ErrorEvent, MessageEvent};

use crate::dom::{now_ms, set_text};
use crate::error::{WebError, WebResult};

/// The worker's loader, beside index.html (trunk writes it for `data-loader-shim`).
const WORKER_SCRIPT: &str = "worker_loader.js";

/// A final reply and the buffer that came with it.
pub struct Response {
    pub reply: Reply,
    pub buffer: Option<ArrayBuffer>,
}

/// The running worker and its message handlers (dropping them would detach the handlers).
struct Running {
    worker: web_sys::Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// The page's handle on its worker.
#[derive(Default)]
pub struct Client {
    running: RefCell<Option<Running>>,
    /// Counts workers started, so that a message from an ended one is ignored.
    generation: Cell<u32>,
    /// Resolves the request in flight with the worker's final reply (or null: cancelled).
    pending: RefCell<Option<Function>>,
    /// Whether the running worker has the model loaded.
    loaded: Cell<bool>,
    /// Whether the page's first load (or its "Try again") is under way: then progress and status
    /// go to the loading line, later (a restart) to the busy line.
    first_load: Cell<bool>,
    /// Milliseconds the last restart took until the model was ready again.
    restart_ms: Cell<Option<f64>>,
}

impl Client {
    pub fn new() -> Rc<Client> {
        Rc::new(Client::default())
    }

    /// Ends the worker, cancelling the request in flight (its future ends with
    /// [`WebError::Cancelled`]); the next request starts a new one.
    pub fn restart(&self) {
        if let Some(running) = self.running.take() {
            running.worker.terminate();
        }
        self.loaded.set(false);
        self.generation.set(self.generation.get().wrapping_add(1));
        if let Some(resolve) = self.pending.take() {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::NULL);
        }
    }

    /// How long the last restart took to load the model again (for `window.gifqa`).
    pub fn restart_ms(&self) -> Option<f64> {
        self.restart_ms.get()
    }

    /// Loads the model in a fresh worker, with the warm-up that picks the backend.
    pub async fn load(self: &Rc<Self>) -> WebResult<Loaded> {
        self.restart();
        self.first_load.set(true);
        let reply = self.send(&Request::Load { warm_up: true }, None).await?.reply;
        self.first_load.set(false);
        match reply {
            Reply::Loaded(loaded) => {
                self.loaded.set(true);
                Ok(*loaded)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `request` (with `buffer`, moved to the worker) and waits for its final reply; a
    /// worker ended by [`Client::restart`] or by a crash is replaced first.
    pub async fn request(self: &Rc<Self>, request: &Request, buffer: Option<ArrayBuffer>) -> WebResult<Response> {
        if !self.loaded.get() {
            let start = now_ms();
            match self.send(&Request::Load { warm_up: false }, None).await?.reply {
                Reply::Loaded(_) => self.loaded.set(true),
                other => return Err(unexpected(&other)),
            }
            self.restart_ms.set(Some(now_ms() - start));
        }
        self.send(request, buffer).await
    }

    async fn send(self: &Rc<Self>, request: &Request, buffer: Option<ArrayBuffer>) -> WebResult<Response> {
        if self.running.borrow().is_none() {
            let started = self.next_reply();
            self.spawn()?;
            if !matches!(self.reply(started).await?.reply, Reply::Started) {
                return Err(WebError::Browser("the model worker did not start".into()));
            }
        }
        let (message, transfer) = web_common::message_with_transfer(&serde_json::to_string(request)?, buffer);
        let replied = self.next_reply();
        if let Some(running) = self.running.borrow().as_ref() {
            running.worker.post_message_with_transfer(&message, &transfer)?;
        }
        self.reply(replied).await
    }

    /// A promise of the worker's next final reply (only one request is ever in flight).
    fn next_reply(&self) -> Promise {
        let mut keep = |resolve: Function, _reject: Function| {
            self.pending.replace(Some(resolve));
        };
        Promise::new(&mut keep)
    }

    /// Waits for `promise` from [`Client::next_reply`]: the reply, or why there is none.
    async fn reply(&self, promise: Promise) -> WebResult<Response> {
        let data = JsFuture::from(promise).await?;
        if data.is_null() {
            return Err(WebError::Cancelled);
        }
        if let Some(stopped) = data.as_string() {
            return Err(WebError::Browser(stopped));
        }
        let response = parse(&data)?;
        match response.reply {
            Reply::Failed { error } => Err(WebError::Browser(error)),
            _ => Ok(response),
        }
    }

    /// Starts a worker whose messages reach this client.
    fn spawn(self: &Rc<Self>) -> WebResult<()> {
        let generation = self.generation.get();
        let worker = web_sys::Worker::new(WORKER_SCRIPT)?;
        let client = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            receive(&client, generation, &event.data());
        });
        let client = Rc::downgrade(self);
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            crashed(&client, generation, &event.message());
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        self.running.replace(Some(Running { worker, _on_message: on_message, _on_error: on_error }));
        Ok(())
    }

    /// The client, when `generation` is still its running worker's.
    fn current(client: &Weak<Client>, generation: u32) -> Option<Rc<Client>> {
        client.upgrade().filter(|c| c.generation.get() == generation)
    }
}

/// A message from the worker: progress and status lines are shown, a final reply ends the request.
fn receive(client: &Weak<Client>, generation: u32, data: &JsValue) {
    let Some(client) = Client::current(client, generation) else { return };
    let reply = match parse(data) {
        Ok(response) => response.reply,
        Err(error) => Reply::Failed { error: error.to_string() },
    };
    match reply {
        Reply::Progress { loaded, total } if client.first_load.get() => crate::show_progress(loaded, total),
        Reply::Progress { .. } => {}
        Reply::Status { text } => set_text(if client.first_load.get() { "load-text" } else { "busy" }, &text),
        _ => {
            if let Some(resolve) = client.pending.take() {
                let _ = resolve.call1(&JsValue::NULL, data);
            }
        }
    }
}

/// The worker stopped with an uncaught error (a wasm trap, or its script failed to load): the
/// request in flight fails with the reason, and the next request starts a new worker.
fn crashed(client: &Weak<Client>, generation: u32, message: &str) {
    let Some(client) = Client::current(client, generation) else { return };
    let reason = format!("the model worker stopped: {message}");
    web_sys::console::error_1(&JsValue::from_str(&reason));
    let pending = client.pending.take();
    client.restart();
    if let Some(resolve) = pending {
        let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str(&reason));
    }
}

/// Reads `[json, buffer?]` as the worker sends it.
fn parse(data: &JsValue) -> WebResult<Response> {
    let parts: Array =
        data.clone().dyn_into().map_err(|_| WebError::Browser("a worker message is malformed".into()))?;
    let json = parts.get(0).as_string().ok_or_else(|| WebError::Browser("a worker message has no JSON".into()))?;
    let reply = serde_json::from_str(&json)?;
    Ok(Response { reply, buffer: parts.get(1).dyn_into::<ArrayBuffer>().ok() })
}

fn unexpected(reply: &Reply) -> WebError {
    WebError::Browser(format!("the model worker answered out of turn: {reply:?}"))
}
