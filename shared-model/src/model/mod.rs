//! The model, one file per block, and the pretrained families it can build on: [`bert`] and
//! [`clip`], each with its towers and the loader of its Hugging Face checkpoints, over the loading
//! machinery they share ([`pretrained`]). [`input`] turns host data into tensors; [`encode`] runs
//! the model's encoders on host data.

pub mod attention;
pub mod bert;
pub mod clip;
pub mod encode;
pub mod event_counter;
pub mod frame_encoder;
pub mod fusion;
pub mod grid_attention;
pub mod heads;
pub mod input;
pub mod kind_head;
pub mod object_probe;
pub mod pretrained;
pub mod qa_model;
pub mod rows;
pub mod segment_tagger;
pub mod slot_reader;
pub mod text_encoder;
pub mod text_tower;
pub mod transformer;
pub mod vision_tower;

pub use encode::{encode_prepared, encode_tokens};
pub use event_counter::{EventCount, EventCounter, EventCounterConfig};
pub use fusion::{QuestionContext, TemporalMode};
pub use input::{index_tensor, token_tensors, video_tensors};
pub use kind_head::{KindHead, KindHeadConfig, kind_index, kinds_of};
pub use object_probe::ObjectProbeLogits;
pub use qa_model::{CountHead, CountOutput, QaModel, QaModelConfig, VideoEmbeddings, VideoEncoding};
pub use segment_tagger::{SegmentTagger, SegmentTaggerConfig};
pub use text_encoder::TextEncoding;
pub use text_tower::{PretrainedTextConfig, PretrainedTextTower};
pub use vision_tower::{PretrainedVisionConfig, PretrainedVisionTower};
