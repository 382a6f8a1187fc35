//! The one place a backend is chosen, by cargo feature: `cuda`, else `wgpu`, else the CPU (`Flex`).

use burn::backend::Autodiff;

/// Backend for inference.
#[cfg(feature = "cuda")]
pub type Compute = burn::backend::Cuda;
/// Backend for inference.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub type Compute = burn::backend::Wgpu;
/// Backend for inference.
#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
pub type Compute = burn::backend::Flex;

/// Backend for training (autodiff on top of [`Compute`]).
pub type Training = Autodiff<Compute>;

/// The device of [`Compute`].
pub type Device = burn::tensor::Device<Compute>;

/// The default device of the compiled-in backend.
pub fn device() -> Device {
    Device::default()
}

/// Human-readable backend name for logs and reports.
pub fn name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else if cfg!(feature = "wgpu") {
        "wgpu"
    } else {
        "cpu (flex)"
    }
}

/// Runs a future to completion on this thread (tensor reads are async for the browser's sake).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_lite::future::block_on(future)
}

/// Loads a model folder for inference on [`Compute`], naming the folder in errors.
pub fn load_model(dir: &std::path::Path) -> anyhow::Result<shared_model::bundle::ModelBundle<Compute>> {
    use anyhow::Context;
    shared_model::bundle::ModelBundle::load_dir(dir, &device())
        .with_context(|| format!("cannot load the model in {}", dir.display()))
}

/// The sampling strategy to use: `requested`, or the model's own; a count-less name gets the
/// model's frame count.
pub fn strategy_for(
    config: &shared_model::bundle::BundleConfig,
    requested: Option<&str>,
) -> anyhow::Result<shared_model::sampling::SamplingStrategy> {
    use shared_model::sampling::SamplingStrategy;
    let frames = SamplingStrategy::parse(&config.sampling, 16)?.frames_read();
    Ok(SamplingStrategy::parse(requested.unwrap_or(&config.sampling), frames)?)
}
