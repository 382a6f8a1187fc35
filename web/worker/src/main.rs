//! The page's Web Worker: downloads and checks the model, decodes and samples GIFs and runs the
//! model (WebGPU or the CPU in wasm), answering the page's [`web_protocol::Request`]s one at a
//! time. Work here never blocks the page: the main thread only draws and handles events, and a
//! GIF chosen while another is still being decoded ends this worker (`Worker.terminate`), which
//! is the one way to stop wasm in the middle of a decode.

mod assets;
mod engine;
mod error;
mod session;
mod view;

fn main() {
    console_error_panic_hook::set_once();
    session::listen();
}
