//! The CLIP family (Radford et al., 2021): the vision tower (`vision.rs`), the text tower
//! (`text.rs`), the transformer layer they share (`layer.rs`), all laid out like Hugging Face's,
//! and the loader of their checkpoints with its key maps (`loader.rs`).

mod layer;
mod loader;
mod text;
mod vision;

pub use layer::{ClipActivation, ClipEncoderLayer, ClipLayerShape, LayerStates, run_layers};
pub use loader::{
    ClipAffine, ClipLayerSlot, ClipTextSlot, ClipVisionSlot, PretrainedClipText, PretrainedClipVision,
    clip_text_key_map, clip_vision_key_map, load_clip_text_dir, load_clip_text_safetensors, load_clip_vision_dir,
    load_clip_vision_safetensors, parse_clip_text_config, parse_clip_vision_config,
};
pub use text::{ClipTextConfig, ClipTextModel, ClipTextOutput, ClipTextPooling, LEGACY_EOS_TOKEN_ID};
pub use vision::{CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, ClipVisionConfig, ClipVisionModel, ClipVisionOutput};
