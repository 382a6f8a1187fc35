//! The BERT family (BERT, MiniLM): the tower laid out like Hugging Face's `BertModel`
//! (`tower.rs`) and the loader of its checkpoints with their key map (`loader.rs`).

mod loader;
mod tower;

pub use loader::{
    Destination, LinearSlot, NormSlot, PretrainedText, SKIPPED_TENSORS, TableSlot, WORD_EMBEDDINGS, WordEmbeddings,
    bert_key_map, load_bert_dir, load_bert_dir_with_tokenizer, load_bert_safetensors, load_word_embeddings,
    parse_bert_config,
};
pub use tower::{BertAttention, BertConfig, BertEmbeddings, BertLayer, BertModel, BertOutput};
