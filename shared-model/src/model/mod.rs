//! The model, one file per block.

pub mod attention;
pub mod bert;
pub mod clip_layer;
pub mod clip_text;
pub mod clip_vision;
pub mod event_counter;
pub mod frame_encoder;
pub mod fusion;
pub mod grid_attention;
pub mod heads;
pub mod kind_head;
pub mod object_probe;
pub mod qa_model;
pub mod segment_tagger;
pub mod slot_reader;
pub mod text_encoder;
pub mod text_tower;
pub mod transformer;
pub mod vision_tower;

pub use event_counter::{EventCount, EventCounter, EventCounterConfig};
pub use fusion::{QuestionContext, TemporalMode};
pub use kind_head::{KindHead, KindHeadConfig, kind_index, kinds_of};
pub use object_probe::ObjectProbeLogits;
pub use qa_model::{CountHead, CountOutput, QaModel, QaModelConfig, VideoEmbeddings, VideoEncoding};
pub use segment_tagger::{SegmentTagger, SegmentTaggerConfig};
pub use text_encoder::TextEncoding;
pub use text_tower::{PretrainedTextConfig, PretrainedTextTower};
pub use vision_tower::{PretrainedVisionConfig, PretrainedVisionTower};
