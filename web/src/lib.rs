//! Browser front end (issue 3 builds the page on this): for now the crate only proves that
//! `shared-model` links into a wasm module and exposes its version.

use wasm_bindgen::prelude::*;

/// The model-folder format this build reads.
#[wasm_bindgen]
pub fn model_format() -> u32 {
    shared_model::bundle::FORMAT_VERSION
}
