//! `model.safetensors`: the model's weights written in f32 or f16 and read from either into the
//! f32 model, failing loudly on missing, unused or mis-shaped tensors.
//!
//! f16 halves the file the page downloads. burn-store's own `HalfPrecisionAdapter` converts only
//! tensors of the module types it knows (Linear, Embedding, Conv*, norms): the raw `Param`s of our
//! own blocks (positions, slot queries, gates) would stay f32 on save and, worse, an f16 tensor it
//! does not know would be loaded as f16 into the f32 model. So both directions here go by dtype
//! alone: every f32 tensor is stored as f16, every f16 tensor read is widened to f32. LayerNorm's
//! parameters are stored in f16 too: on the shipped model, keeping them in f32 changed no answer
//! either way and only cut the largest probability difference over 586 Val answers from 0.002 to
//! 0.0015.

use std::rc::Rc;

use burn::prelude::*;
use burn::tensor::DType;
use burn_store::{ModuleAdapter, ModuleSnapshot, SafetensorsStore, TensorSnapshot};
use serde::{Deserialize, Serialize};

use super::BundleError;
use crate::model::QaModel;

/// How `model.safetensors` stores the floating-point weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsDtype {
    /// 32-bit floats, exactly the trained values (checkpoints, and the default).
    #[default]
    F32,
    /// 16-bit floats: half the file, each weight rounded to 11 significant bits (a relative error
    /// under 0.05%); read back into the f32 model.
    F16,
}

impl WeightsDtype {
    /// The name used on command lines and in recipes.
    pub fn name(self) -> &'static str {
        match self {
            WeightsDtype::F32 => "f32",
            WeightsDtype::F16 => "f16",
        }
    }
}

impl std::fmt::Display for WeightsDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WeightsDtype {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "f32" => Ok(WeightsDtype::F32),
            "f16" => Ok(WeightsDtype::F16),
            other => Err(format!("unknown weights dtype '{other}' (expected f32 or f16)")),
        }
    }
}

/// The same tensor, its data converted to `dtype` when read.
fn cast(snapshot: &TensorSnapshot, dtype: DType) -> TensorSnapshot {
    let data = snapshot.clone_data_fn();
    TensorSnapshot::from_closure(
        Rc::new(move || Ok(data()?.convert_dtype(dtype))),
        dtype,
        snapshot.shape.clone(),
        snapshot.path_stack.clone().unwrap_or_default(),
        snapshot.container_stack.clone().unwrap_or_default(),
        snapshot.tensor_id.unwrap_or_default(),
    )
}

/// Saving: every f32 tensor becomes f16 (other dtypes are kept).
#[derive(Debug, Clone)]
struct NarrowToF16;

impl ModuleAdapter for NarrowToF16 {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        if snapshot.dtype == DType::F32 { cast(snapshot, DType::F16) } else { snapshot.clone() }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Loading: every f16 tensor becomes f32, the model's float type (f32 tensors pass unchanged, so
/// an f32 file loads exactly as without it).
#[derive(Debug, Clone)]
struct WidenF16;

impl ModuleAdapter for WidenF16 {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        if snapshot.dtype == DType::F16 { cast(snapshot, DType::F32) } else { snapshot.clone() }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Fails on the first floating-point tensor of safetensors `weights` that holds NaN or infinity
/// (read from the raw bits, so every float width is covered without converting).
pub fn check_finite(weights: &[u8]) -> Result<(), BundleError> {
    use safetensors::{Dtype, SafeTensors};
    let tensors = SafeTensors::deserialize(weights).map_err(|e| BundleError::Weights(e.to_string()))?;
    for (name, view) in tensors.tensors() {
        let data = view.data();
        let count = match view.dtype() {
            Dtype::F32 => {
                data.chunks_exact(4).filter(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()).count()
            }
            Dtype::F64 => data
                .chunks_exact(8)
                .filter(|b| !f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]).is_finite())
                .count(),
            // Half widths: all exponent bits set means infinity or NaN.
            Dtype::F16 => data.chunks_exact(2).filter(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00).count(),
            Dtype::BF16 => data.chunks_exact(2).filter(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80).count(),
            _ => 0,
        };
        if count > 0 {
            return Err(BundleError::NonFinite { tensor: name, count });
        }
    }
    Ok(())
}

/// Serialises a model's weights as safetensors bytes in f32.
pub fn weights_to_bytes<B: Backend>(model: &QaModel<B>) -> Result<Vec<u8>, BundleError> {
    weights_to_bytes_as(model, WeightsDtype::F32)
}

/// Serialises a model's weights as safetensors bytes with its float tensors stored as `dtype`;
/// fails on a weight beyond f16's range (it would be stored as infinity, and refused on loading).
pub fn weights_to_bytes_as<B: Backend>(model: &QaModel<B>, dtype: WeightsDtype) -> Result<Vec<u8>, BundleError> {
    let mut store = SafetensorsStore::from_bytes(None);
    if dtype == WeightsDtype::F16 {
        store = store.with_to_adapter(NarrowToF16);
    }
    model.save_into(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| BundleError::Weights(e.to_string()))?;
    if dtype == WeightsDtype::F16 {
        check_finite(&bytes).map_err(|error| match error {
            BundleError::NonFinite { tensor, count } => BundleError::Weights(format!(
                "{count} weights of tensor {tensor} are beyond f16's range (±65504): store this model in f32"
            )),
            other => other,
        })?;
    }
    Ok(bytes)
}

/// Tensor names a lenient load did not match (see [`load_weights_partially`]).
#[derive(Debug, Default)]
pub struct PartialLoad {
    /// Tensors of the model that the bytes lack (they keep their initial values).
    pub missing: Vec<String>,
    /// Tensors in the bytes that the model has no place for.
    pub unused: Vec<String>,
}

/// Loads safetensors bytes (f32 or f16) into `model`, failing on any missing, unused or mis-shaped tensor.
pub fn load_weights<B: Backend>(model: &mut QaModel<B>, weights: Vec<u8>) -> Result<(), BundleError> {
    let result = load_weights_partially(model, weights)?;
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        problems.push(format!("missing {}", result.missing.join(", ")));
    }
    if !result.unused.is_empty() {
        problems.push(format!("unused {}", result.unused.join(", ")));
    }
    if problems.is_empty() { Ok(()) } else { Err(BundleError::Weights(problems.join("; "))) }
}

/// Loads the tensors of `weights` (f32 or f16) that `model` has, reporting the rest instead of failing (for
/// tools that change a part of a trained model); mis-shaped tensors still fail.
pub fn load_weights_partially<B: Backend>(
    model: &mut QaModel<B>,
    weights: Vec<u8>,
) -> Result<PartialLoad, BundleError> {
    let mut store =
        SafetensorsStore::from_bytes(Some(weights)).allow_partial(true).validate(false).with_from_adapter(WidenF16);
    let result = model.load_from(&mut store).map_err(|e| BundleError::Weights(e.to_string()))?;
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(BundleError::Weights(errors.join("; ")));
    }
    Ok(PartialLoad {
        missing: result.missing.iter().map(|(path, _)| path.clone()).collect(),
        unused: result.unused.clone(),
    })
}
