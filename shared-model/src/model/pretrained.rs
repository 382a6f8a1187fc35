//! What loading a Hugging Face checkpoint (`config.json` + `model.safetensors`) into a pretrained
//! family ([`crate::model::bert`], [`crate::model::clip`]) needs, whatever the family: the error
//! type, reading a tensor, the unused-tensor check and putting a tensor into a Burn module.
//!
//! Each family has one explicit key map (Hugging Face name → where it goes) beside its towers.
//! Loading fails, naming the tensor (and, from a folder, the file), on any missing, unused,
//! mis-shaped or non-float32 tensor.

use std::collections::BTreeSet;
use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::TensorData;
use safetensors::{Dtype, SafeTensors};

/// Errors loading a pretrained tower.
#[derive(Debug, thiserror::Error)]
// Each variant's fields are named in its #[error] message and its doc line.
#[allow(missing_docs)]
pub enum PretrainedError {
    // The wrapping variants print their cause in their own message and do not also report it as
    // `source()`: a `{:#}` chain (anyhow) would print it twice.
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// Something inside a file is wrong; names the file.
    #[error("{path}: {error}")]
    InFile { path: String, error: Box<PretrainedError> },
    /// `config.json` is not valid.
    #[error("config.json is invalid: {0}")]
    Config(#[from] serde_json::Error),
    /// The configuration cannot be built, or describes another architecture.
    #[error("config.json describes an impossible model: {0}")]
    Invalid(String),
    /// The safetensors file is malformed.
    #[error("model.safetensors is invalid: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// A tensor the model needs is absent.
    #[error("tensor `{0}` is missing from the checkpoint")]
    Missing(String),
    /// A tensor in the checkpoint is not used by the model.
    #[error("tensor `{0}` in the checkpoint is not used by the model")]
    Unused(String),
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape { name: String, found: Vec<usize>, expected: Vec<usize> },
    /// A tensor has an element type this loader does not read.
    #[error("tensor `{name}` has dtype {dtype}, expected F32")]
    Dtype { name: String, dtype: String },
    /// `tokenizer.json` cannot be read as a tokenizer.
    #[error("{path}: {error}")]
    Tokenizer { path: String, error: crate::text::tokenize::TokenizeError },
    /// `tokenizer.json` and the checkpoint disagree on the vocabulary.
    #[error("{path} has {tokenizer} tokens but the checkpoint's config.json says vocab_size {config}")]
    VocabMismatch { path: String, tokenizer: usize, config: usize },
}

impl PretrainedError {
    /// The innermost error, past any [`PretrainedError::InFile`].
    pub fn innermost(&self) -> &PretrainedError {
        match self {
            PretrainedError::InFile { error, .. } => error.innermost(),
            other => other,
        }
    }
}

/// Reads `dir/name`.
pub(crate) fn read_file(dir: &Path, name: &str) -> Result<Vec<u8>, PretrainedError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|error| PretrainedError::Io { path: path.display().to_string(), error })
}

/// Wraps an error about the contents of `dir/name` so that it names the file.
pub(crate) fn in_file(dir: &Path, name: &str) -> impl FnOnce(PretrainedError) -> PretrainedError {
    let path = dir.join(name).display().to_string();
    move |error| PretrainedError::InFile { path, error: Box::new(error) }
}

/// Fails on the first tensor (in name order) that is neither in `expected` nor `ignored`.
pub(crate) fn check_unused(
    file: &SafeTensors,
    expected: &BTreeSet<&str>,
    ignored: impl Fn(&str) -> bool,
) -> Result<(), PretrainedError> {
    let mut names = file.names();
    names.sort_unstable();
    match names.iter().find(|n| !expected.contains(*n) && !ignored(n)) {
        Some(unused) => Err(PretrainedError::Unused(unused.to_string())),
        None => Ok(()),
    }
}

/// One checkpoint tensor read as float32, with its Hugging Face name and shape.
pub(crate) struct HfTensor {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Vec<f32>,
}

/// Reads tensor `name`, failing if it is absent or not float32.
pub(crate) fn read_f32(file: &SafeTensors, name: &str) -> Result<HfTensor, PretrainedError> {
    let view = file.tensor(name).map_err(|_| PretrainedError::Missing(name.to_string()))?;
    if view.dtype() != Dtype::F32 {
        return Err(PretrainedError::Dtype { name: name.to_string(), dtype: format!("{:?}", view.dtype()) });
    }
    let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(HfTensor { name: name.to_string(), shape: view.shape().to_vec(), values })
}

/// A parameter of a Burn module that a checkpoint tensor fills.
pub(crate) enum Target<'m, B: Backend> {
    /// HF stores `[out, in]`; Burn's `Linear` holds `[in, out]`, so it is transposed.
    LinearWeight(&'m mut Linear<B>),
    /// `[out]`.
    LinearBias(&'m mut Linear<B>),
    /// A LayerNorm scale (`weight` in HF, `gamma` in Burn).
    NormGamma(&'m mut LayerNorm<B>),
    /// A LayerNorm shift (`bias` in HF, `beta` in Burn).
    NormBeta(&'m mut LayerNorm<B>),
    /// An embedding table `[rows, hidden]`, stored the same way in both.
    Table(&'m mut Embedding<B>),
    /// A bare vector, same shape in both.
    Vector(&'m mut Param<Tensor<B, 1>>),
    /// A bare matrix, same shape in both.
    Matrix(&'m mut Param<Tensor<B, 2>>),
    /// A convolution whose stride equals its kernel, held as a Linear `[in * kh * kw, out]`;
    /// HF stores `[out, in, kh, kw]` (the expected shape given here).
    PatchConv(&'m mut Linear<B>, [usize; 4]),
}

/// Puts `tensor` into `target`, checking its shape against the module's.
pub(crate) fn put<B: Backend>(
    target: Target<'_, B>,
    tensor: HfTensor,
    device: &B::Device,
) -> Result<(), PretrainedError> {
    let HfTensor { name, shape: found, values } = tensor;
    let check = |expected: Vec<usize>| {
        if found == expected {
            Ok(())
        } else {
            Err(PretrainedError::Shape { name: name.clone(), found: found.clone(), expected })
        }
    };
    let vector = |values: Vec<f32>| {
        let n = values.len();
        Param::from_tensor(Tensor::<B, 1>::from_data(TensorData::new(values, [n]), device))
    };
    let matrix =
        |values: Vec<f32>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(values, shape), device);
    match target {
        Target::LinearWeight(linear) => {
            let [d_in, d_out] = linear.weight.dims();
            check(vec![d_out, d_in])?;
            linear.weight = Param::from_tensor(matrix(values, [d_out, d_in]).transpose());
        }
        Target::LinearBias(linear) => {
            let [_, d_out] = linear.weight.dims();
            check(vec![d_out])?;
            linear.bias = Some(vector(values));
        }
        Target::NormGamma(norm) => {
            check(norm.gamma.dims().to_vec())?;
            norm.gamma = vector(values);
        }
        Target::NormBeta(norm) => {
            check(norm.gamma.dims().to_vec())?;
            norm.beta = Some(vector(values));
        }
        Target::Table(table) => {
            let shape = table.weight.dims();
            check(shape.to_vec())?;
            table.weight = Param::from_tensor(matrix(values, shape));
        }
        Target::Vector(param) => {
            check(param.dims().to_vec())?;
            *param = vector(values);
        }
        Target::Matrix(param) => {
            let shape = param.dims();
            check(shape.to_vec())?;
            *param = Param::from_tensor(matrix(values, shape));
        }
        Target::PatchConv(linear, expected) => {
            let [d_out, channels, kh, kw] = expected;
            check(expected.to_vec())?;
            if linear.weight.dims() != [channels * kh * kw, d_out] {
                return Err(PretrainedError::Shape {
                    name,
                    found: linear.weight.dims().to_vec(),
                    expected: vec![channels * kh * kw, d_out],
                });
            }
            // [out, in * kh * kw] in row-major (in, kh, kw) order, then [in * kh * kw, out]
            linear.weight = Param::from_tensor(matrix(values, [d_out, channels * kh * kw]).transpose());
        }
    }
    Ok(())
}

/// Loads every tensor named in `map` into `model` (after [`check_unused`]); `target` says which
/// parameter of the model a destination is.
pub(crate) fn load_map<B: Backend, M, D: Copy>(
    file: &SafeTensors,
    map: &[(String, D)],
    ignored: impl Fn(&str) -> bool,
    model: &mut M,
    target: for<'a> fn(&'a mut M, D) -> Target<'a, B>,
    device: &B::Device,
) -> Result<(), PretrainedError> {
    let expected: BTreeSet<&str> = map.iter().map(|(name, _)| name.as_str()).collect();
    check_unused(file, &expected, ignored)?;
    for (name, destination) in map {
        put(target(model, *destination), read_f32(file, name)?, device)?;
    }
    Ok(())
}
