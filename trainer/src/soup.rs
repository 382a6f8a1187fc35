//! Weight averaging ("model soup"): the element-wise mean of checkpoints that descend from one
//! trained model (e.g. a model and a run started from it with `--init`). Such checkpoints sit in one
//! basin of the loss, where the mean is often better than either; the means of independent
//! trainings are not. `--example average_models` writes the mean of model folders.

use anyhow::{Context, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// The element-wise mean of the f32 tensors of `models` (a name for errors and safetensors bytes,
/// one per model), with equal weights; every other tensor must agree exactly, and every model must
/// have the same tensor names, dtypes and shapes.
pub fn average_safetensors(models: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    anyhow::ensure!(!models.is_empty(), "nothing to average");
    let inputs: Vec<&str> = models.iter().map(|(name, _)| *name).collect();
    let parsed: Vec<SafeTensors> = models
        .iter()
        .map(|(input, bytes)| SafeTensors::deserialize(bytes).with_context(|| format!("{input}: bad safetensors")))
        .collect::<Result<_>>()?;
    let mut names = parsed[0].names();
    names.sort();
    let mut data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    for name in names {
        let first = parsed[0].tensor(name)?;
        let mut views = vec![first.clone()];
        for (other, input) in parsed.iter().zip(&inputs).skip(1) {
            let view = other.tensor(name).with_context(|| format!("{input} lacks the tensor {name}"))?;
            anyhow::ensure!(
                view.dtype() == first.dtype() && view.shape() == first.shape(),
                "{name}: {input} has {:?} {:?}, {} has {:?} {:?}",
                view.dtype(),
                view.shape(),
                inputs[0],
                first.dtype(),
                first.shape()
            );
            views.push(view);
        }
        let bytes = match first.dtype() {
            Dtype::F32 => mean_f32(&views),
            _ => {
                anyhow::ensure!(
                    views.iter().all(|v| v.data() == first.data()),
                    "{name} ({:?}) differs between the models and cannot be averaged",
                    first.dtype()
                );
                first.data().to_vec()
            }
        };
        data.push((name.to_string(), first.dtype(), first.shape().to_vec(), bytes));
    }
    for (other, input) in parsed.iter().zip(&inputs).skip(1) {
        anyhow::ensure!(other.len() == data.len(), "{input} has tensors that {} lacks", inputs[0]);
    }
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(name, dtype, shape, bytes)| Ok((name.clone(), TensorView::new(*dtype, shape.clone(), bytes)?)))
        .collect::<Result<_>>()?;
    Ok(safetensors::serialize(views, None)?)
}

/// The mean of little-endian f32 tensors of one shape, accumulated in f64.
fn mean_f32(views: &[TensorView]) -> Vec<u8> {
    let mut sums = vec![0f64; views[0].data().len() / 4];
    for view in views {
        for (sum, value) in sums.iter_mut().zip(view.data().chunks_exact(4)) {
            // chunks_exact(4) yields 4-byte slices, so the conversion cannot fail.
            *sum += f64::from(f32::from_le_bytes([value[0], value[1], value[2], value[3]]));
        }
    }
    let count = views.len() as f64;
    sums.iter().flat_map(|sum| ((sum / count) as f32).to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Safetensors bytes of f32 tensors `(name, shape, values)` and one u8 tensor `step`.
    fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)], step: u8) -> Vec<u8> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(name, shape, values)| {
                (name.to_string(), shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
            })
            .collect();
        let step = [step];
        let mut views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(name, shape, data)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), data).unwrap()))
            .collect();
        views.push(("step".into(), TensorView::new(Dtype::U8, vec![1], &step).unwrap()));
        safetensors::serialize(views, None).unwrap()
    }

    fn values(bytes: &[u8], name: &str) -> Vec<f32> {
        let file = SafeTensors::deserialize(bytes).unwrap();
        let view = file.tensor(name).unwrap();
        view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }

    #[test]
    fn averages_float_tensors_element_wise() {
        let a = file(&[("w", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]), ("b", vec![1], vec![-1.0])], 7);
        let b = file(&[("w", vec![2, 2], vec![3.0, 2.0, 0.0, -4.0]), ("b", vec![1], vec![2.0])], 7);
        let c = file(&[("w", vec![2, 2], vec![2.0, 5.0, 0.0, 3.0]), ("b", vec![1], vec![5.0])], 7);
        let mean = average_safetensors(&[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        assert_eq!(values(&mean, "w"), vec![2.0, 3.0, 1.0, 1.0]);
        assert_eq!(values(&mean, "b"), vec![2.0]);
        let file = SafeTensors::deserialize(&mean).unwrap();
        assert_eq!(file.tensor("w").unwrap().shape(), &[2, 2]);
        assert_eq!(file.tensor("step").unwrap().data(), &[7]);
        // The mean of one model is that model.
        let same = average_safetensors(&[("a", &a)]).unwrap();
        assert_eq!(values(&same, "w"), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn refuses_models_that_do_not_match() {
        let a = file(&[("w", vec![2, 2], vec![1.0; 4])], 1);
        let reshaped = file(&[("w", vec![4], vec![1.0; 4])], 1);
        let renamed = file(&[("v", vec![2, 2], vec![1.0; 4])], 1);
        let extra = file(&[("w", vec![2, 2], vec![1.0; 4]), ("x", vec![1], vec![0.0])], 1);
        let other_step = file(&[("w", vec![2, 2], vec![1.0; 4])], 2);
        let error = |other: &[u8]| average_safetensors(&[("a", &a), ("b", other)]).unwrap_err().to_string();
        assert!(error(&reshaped).contains("w: b has F32 [4]"), "{}", error(&reshaped));
        assert!(error(&renamed).contains("b lacks the tensor w"), "{}", error(&renamed));
        assert!(error(&extra).contains("b has tensors that a lacks"), "{}", error(&extra));
        assert!(error(&other_step).contains("step (U8) differs"), "{}", error(&other_step));
        assert!(error(b"not safetensors").contains("b: bad safetensors"));
    }
}
