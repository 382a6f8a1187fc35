//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data` beside the repository, or `None` (with a note) when it is absent.
pub fn shared_data() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} not found (the workplace's shared data sits beside the repository)", dir.display());
        None
    }
}

/// A fresh empty folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/gifqa-{name}-{pid}`.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gifqa-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reading the parity fixtures of `../shared/data/parity` (PyTorch/transformers reference outputs).
pub mod parity {
    use std::path::Path;

    use burn::prelude::*;
    use burn::tensor::TensorData;
    use serde_json::Value;

    /// A JSON file, parsed.
    pub fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("reading json")).expect("parsing json")
    }

    /// `{shape, data}` → (shape, values).
    pub fn float_tensor(v: &Value) -> (Vec<usize>, Vec<f32>) {
        let shape = v["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("dim") as usize).collect();
        let data = v["data"].as_array().expect("data").iter().map(|x| x.as_f64().expect("value") as f32).collect();
        (shape, data)
    }

    /// Nested integer lists `[[..], ..]` → `[batch, len]` Int tensor on the default device.
    pub fn int_batch<B: Backend>(v: &Value) -> Tensor<B, 2, Int> {
        let rows = v.as_array().expect("rows");
        let len = rows[0].as_array().expect("row").len();
        let data: Vec<i64> =
            rows.iter().flat_map(|r| r.as_array().expect("row").iter().map(|x| x.as_i64().expect("int"))).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), len]), &Default::default())
    }

    /// A float tensor's shape and values.
    pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
        let shape = t.dims().to_vec();
        (shape, t.into_data().to_vec::<f32>().expect("f32 data"))
    }
}
