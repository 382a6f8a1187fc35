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

/// The device kind that `--devices` names for the compiled-in backend.
#[cfg(feature = "cuda")]
pub const DEVICE_KIND: &str = "cuda";
/// The device kind that `--devices` names for the compiled-in backend.
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub const DEVICE_KIND: &str = "wgpu";
/// The device kind that `--devices` names for the compiled-in backend.
#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
pub const DEVICE_KIND: &str = "cpu";

/// Device `index` of the compiled-in backend.
#[cfg(feature = "cuda")]
fn device_at(index: usize) -> Device {
    burn::backend::cuda::CudaDevice::new(index)
}
/// Device `index` of the compiled-in backend (the N-th discrete GPU).
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
fn device_at(index: usize) -> Device {
    burn::backend::wgpu::WgpuDevice::DiscreteGpu(index)
}
/// The CPU backend has a single device value: every `cpu:N` is the same device, and a replica
/// is what makes it a "device" (each runs its share of the batch on its own thread).
#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
fn device_at(_index: usize) -> Device {
    Device::default()
}

/// Parses `--devices` (`cpu:0,cpu:1`, `cuda:0,cuda:1`, `wgpu:0`): the devices of a data-parallel
/// run, main device first. `None` gives [`default_devices`].
pub fn devices(list: Option<&str>) -> anyhow::Result<Vec<Device>> {
    let Some(list) = list else { return Ok(default_devices()) };
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let (kind, index) = entry
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--devices entry '{entry}' is not KIND:INDEX (e.g. {DEVICE_KIND}:0)"))?;
        let index: usize =
            index.parse().map_err(|_| anyhow::anyhow!("--devices entry '{entry}': '{index}' is not a device index"))?;
        anyhow::ensure!(
            ["cpu", "cuda", "wgpu"].contains(&kind),
            "--devices entry '{entry}': unknown device kind '{kind}' (expected cpu, cuda or wgpu)"
        );
        anyhow::ensure!(
            kind == DEVICE_KIND,
            "--devices entry '{entry}': this trainer runs on {}; {kind} devices need a build with {}",
            name(),
            if kind == "cpu" { "no GPU feature".to_string() } else { format!("--features {kind}") }
        );
        anyhow::ensure!(!seen.contains(&(kind, index)), "--devices lists '{entry}' twice");
        seen.push((kind, index));
    }
    Ok(seen.iter().map(|&(_, index)| device_at(index)).collect())
}

/// Where training runs without `--devices`: a GPU backend's default device; on the CPU backend one
/// replica per core, up to [`MAX_CPU_REPLICAS`]. Flex runs most of this model's kernels on the
/// calling thread, so one device keeps one core busy; a replica per core splits each batch's GIFs
/// between threads (the result equals one-device training up to float rounding, see `parallel`).
pub fn default_devices() -> Vec<Device> {
    if DEVICE_KIND == "cpu" {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        vec![device(); cores.clamp(1, MAX_CPU_REPLICAS)]
    } else {
        vec![device()]
    }
}

/// Most CPU replicas [`default_devices`] starts: a 16-GIF batch then still gives each at least 4
/// GIFs (two were measured, on 2 cores: docs/training-speed.md).
pub const MAX_CPU_REPLICAS: usize = 4;

/// Fails with one clear line when the compiled-in backend cannot start on this machine. A CUDA
/// build needs the NVIDIA driver's `libcuda.so.1`; without it the backend would panic in its device
/// thread (and the process then crash) at the first tensor.
#[cfg(feature = "cuda")]
pub fn ensure_available() -> anyhow::Result<()> {
    // SAFETY: loading the driver library runs only its own initialisers, as the CUDA backend does
    // itself at its first tensor; no symbol of it is called here, and it is closed again on drop.
    #[allow(unsafe_code)]
    let loads = |name: &str| unsafe { libloading::Library::new(name) }.is_ok();
    anyhow::ensure!(
        loads("libcuda.so.1") || loads("libcuda.so"),
        "this trainer was built with --features cuda, but the NVIDIA driver library (libcuda.so.1) \
         cannot be loaded here: run it on a machine with an NVIDIA GPU and its driver, add the \
         driver's folder to LD_LIBRARY_PATH, or build without the feature for the CPU"
    );
    Ok(())
}

/// Fails with one clear line when the compiled-in backend cannot start on this machine (the CPU
/// and wgpu backends report their own errors).
#[cfg(not(feature = "cuda"))]
pub fn ensure_available() -> anyhow::Result<()> {
    Ok(())
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

/// How a command's `--no-verify` flag loads model folders.
pub fn verify(no_verify: bool) -> shared_model::bundle::Verify {
    if no_verify { shared_model::bundle::Verify::Skip } else { shared_model::bundle::Verify::Manifest }
}

/// Loads a model folder for inference on [`Compute`], checked against its manifest unless
/// `no_verify`, naming the folder in errors.
pub fn load_model(
    dir: &std::path::Path,
    no_verify: bool,
) -> anyhow::Result<shared_model::bundle::ModelBundle<Compute>> {
    use anyhow::Context;
    use shared_model::bundle::{BundleError, ModelBundle};
    match ModelBundle::load_dir_with(dir, verify(no_verify), &device()) {
        Ok(bundle) => Ok(bundle),
        Err(BundleError::NoManifest { dir }) => {
            anyhow::bail!(
                "{dir} has no manifest.json, so its files cannot be checked; pass --no-verify to load it anyway"
            )
        }
        Err(error) => Err(error).with_context(|| format!("cannot load the model in {}", dir.display())),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_uses_the_cores_on_the_cpu_and_one_gpu() {
        let default = default_devices();
        if DEVICE_KIND == "cpu" {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            assert_eq!(default.len(), cores.clamp(1, MAX_CPU_REPLICAS));
        } else {
            assert_eq!(default.len(), 1);
        }
        assert_eq!(devices(None).map(|d| d.len()).ok(), Some(default.len()));
        let one = format!("{DEVICE_KIND}:0");
        assert_eq!(devices(Some(&one)).map(|d| d.len()).ok(), Some(1));
    }
}
