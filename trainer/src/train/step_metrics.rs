//! A training step's figures (its loss, the answer heads' right answers, the object probe's hits)
//! kept on the devices that computed them, and read back in one go when the loop logs. On a GPU a
//! read waits for the device's queue to drain, so a step that read its own loss would stall the
//! queue every step; here the step reads nothing, and [`MetricsAccumulator::read`] makes two
//! read-backs (the losses, the predictions) for all the steps since the last read.

use std::collections::BTreeMap;

use anyhow::Result;
use burn::prelude::*;
use shared_model::text::questions::QuestionType;

use crate::runtime::backend::{Compute, Device, Training};

/// Right answers and questions per type, tallied during training.
pub type Tally = BTreeMap<QuestionType, (usize, usize)>;

/// How often the object probe named an object's shape and colour right (training mode).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTally {
    /// Objects (in frames) whose shape it named.
    pub shapes_right: usize,
    /// Objects whose colour it named.
    pub colours_right: usize,
    /// Objects it read.
    pub objects: usize,
}

impl std::ops::AddAssign for ProbeTally {
    fn add_assign(&mut self, other: Self) {
        self.shapes_right += other.shapes_right;
        self.colours_right += other.colours_right;
        self.objects += other.objects;
    }
}

/// What a row of predictions counts towards.
#[derive(Clone)]
enum Tallied {
    /// Answers, one question type per row.
    Answers(Vec<QuestionType>),
    /// The object probe's shapes.
    ProbeShapes,
    /// The object probe's colours.
    ProbeColours,
    /// The kind head's question types.
    Kinds,
}

/// One head's (or probe's) predictions of one share, still on its device.
#[derive(Clone)]
struct Predictions {
    /// Arg-max class per row, `[rows, 1]`.
    argmax: Tensor<Compute, 2, Int>,
    /// Target class per row (a row without one counts as asked, never as right).
    targets: Vec<Option<usize>>,
    /// What the rows count towards.
    tallied: Tallied,
}

/// One training step's figures, not read yet: every device tensor is detached from the autodiff
/// graph and lives on the device of the share that made it.
#[derive(Clone, Default)]
pub struct StepMetrics {
    /// Each share's loss, `[1]`, in device order.
    losses: Vec<Tensor<Compute, 1>>,
    /// The answer heads' and the probe's predictions.
    predictions: Vec<Predictions>,
}

impl StepMetrics {
    /// Records a share's loss (`[1]`).
    pub fn loss(&mut self, loss: &Tensor<Training, 1>) {
        self.losses.push(loss.clone().inner());
    }

    /// Records an answer head's predictions: `logits` `[rows, classes]`, and per row its target
    /// class and question type.
    pub fn answers(&mut self, logits: &Tensor<Training, 2>, targets: Vec<Option<usize>>, qtypes: Vec<QuestionType>) {
        self.predict(logits, targets, Tallied::Answers(qtypes));
    }

    /// Records the object probe's predictions: `[objects, classes]` logits of shape and colour and
    /// the objects' true classes.
    pub fn probe(
        &mut self,
        shape: &Tensor<Training, 2>,
        shapes: &[usize],
        colour: &Tensor<Training, 2>,
        colours: &[usize],
    ) {
        self.predict(shape, shapes.iter().copied().map(Some).collect(), Tallied::ProbeShapes);
        self.predict(colour, colours.iter().copied().map(Some).collect(), Tallied::ProbeColours);
    }

    fn predict(&mut self, logits: &Tensor<Training, 2>, targets: Vec<Option<usize>>, tallied: Tallied) {
        if !targets.is_empty() {
            self.predictions.push(Predictions { argmax: logits.clone().inner().argmax(1), targets, tallied });
        }
    }

    /// Records the kind head's predictions: `[questions, types]` logits and each question's type.
    pub fn kinds(&mut self, logits: &Tensor<Training, 2>, targets: &[usize]) {
        self.predict(logits, targets.iter().copied().map(Some).collect(), Tallied::Kinds);
    }

    /// Adds another share's figures (shares are added in device order).
    pub fn append(&mut self, other: StepMetrics) {
        self.losses.extend(other.losses);
        self.predictions.extend(other.predictions);
    }

    /// Reads this step alone (a read-back now; the training loop accumulates instead).
    pub fn read(self, device: &Device) -> Result<Figures> {
        let mut accumulator = MetricsAccumulator::new(device);
        accumulator.push(self);
        Ok(accumulator.read()?.clone())
    }
}

/// The figures of the steps read so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    /// Sum over steps of each step's loss (the sum of its shares' losses).
    pub loss_sum: f64,
    /// Steps.
    pub steps: usize,
    /// Right answers and questions per type.
    pub tally: Tally,
    /// The object probe's hits.
    pub probe: ProbeTally,
    /// The kind head's right types and questions (`--kind-head`).
    pub kinds: (usize, usize),
}

impl Figures {
    /// Mean loss per step (0 before any step).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.steps.max(1) as f64
    }
}

/// Steps' figures, summed on the host at each [`read`](Self::read) from what the steps left on
/// their devices.
pub struct MetricsAccumulator {
    /// Where the read-backs are gathered (the main device).
    device: Device,
    /// Steps pushed since the last read.
    pending: Vec<StepMetrics>,
    /// The figures of the steps read so far.
    figures: Figures,
}

impl MetricsAccumulator {
    /// Gathers on `device` (the main training device).
    pub fn new(device: &Device) -> Self {
        #[allow(clippy::clone_on_copy)] // Copy on the CPU backend, not on CUDA or wgpu.
        let device = device.clone();
        Self { device, pending: Vec::new(), figures: Figures::default() }
    }

    /// Adds a step (nothing is read).
    pub fn push(&mut self, step: StepMetrics) {
        self.pending.push(step);
    }

    /// Reads the steps pushed since the last read (one read-back of their losses, one of their
    /// predictions) and gives the figures of every step so far.
    pub fn read(&mut self) -> Result<&Figures> {
        let pending = std::mem::take(&mut self.pending);
        let losses = read_losses(pending.iter().flat_map(|step| step.losses.iter().cloned()).collect(), &self.device)?;
        let mut losses = losses.into_iter();
        for step in &pending {
            // Summed share by share in f64, as the values the shares' losses were.
            let mut loss = 0.0;
            for value in losses.by_ref().take(step.losses.len()) {
                loss += value;
            }
            self.figures.loss_sum += loss;
            self.figures.steps += 1;
        }
        let predictions: Vec<Predictions> = pending.into_iter().flat_map(|step| step.predictions).collect();
        if predictions.is_empty() {
            return Ok(&self.figures);
        }
        let argmax = Tensor::cat(predictions.iter().map(|p| p.argmax.clone().to_device(&self.device)).collect(), 0);
        let argmax = argmax.try_into_data().map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))?;
        let mut predicted = argmax.iter::<i64>();
        for prediction in &predictions {
            for (row, target) in prediction.targets.iter().enumerate() {
                let p = predicted.next().ok_or_else(|| anyhow::anyhow!("fewer predictions than rows"))?;
                let right = usize::from(target.is_some_and(|t| t as i64 == p));
                match &prediction.tallied {
                    Tallied::Answers(qtypes) => {
                        let entry = self.figures.tally.entry(qtypes[row]).or_default();
                        entry.0 += right;
                        entry.1 += 1;
                    }
                    Tallied::ProbeShapes => {
                        self.figures.probe.shapes_right += right;
                        self.figures.probe.objects += 1;
                    }
                    Tallied::ProbeColours => self.figures.probe.colours_right += right,
                    Tallied::Kinds => {
                        self.figures.kinds.0 += right;
                        self.figures.kinds.1 += 1;
                    }
                }
            }
        }
        Ok(&self.figures)
    }
}

/// The values of `[1]` losses, in order, in one read-back (moved to `device` first).
pub fn read_losses(losses: Vec<Tensor<Compute, 1>>, device: &Device) -> Result<Vec<f64>> {
    if losses.is_empty() {
        return Ok(Vec::new());
    }
    let values = Tensor::cat(losses.into_iter().map(|loss| loss.to_device(device)).collect(), 0);
    let values = values.try_into_data().map_err(|e| anyhow::anyhow!("reading losses: {e:?}"))?;
    Ok(values.iter::<f32>().map(f64::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::backend::device;
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// One share's figures as the step read them before the accumulator: the loss's value, and
    /// right answers from each head's arg-max read at once.
    struct Share {
        loss: f32,
        heads: Vec<Head>,
        probe: Option<Probe>,
    }

    /// An answer head's row-major logits, and per row its target and question type.
    struct Head {
        logits: Vec<f32>,
        classes: usize,
        targets: Vec<Option<usize>>,
        qtypes: Vec<QuestionType>,
    }

    /// The probe's logits (3 shapes, 2 colours) and true classes.
    struct Probe {
        shape: Vec<f32>,
        shapes: Vec<usize>,
        colour: Vec<f32>,
        colours: Vec<usize>,
    }

    fn host_argmax(logits: &[f32], classes: usize) -> Vec<usize> {
        logits
            .chunks(classes)
            .map(|row| (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
            .collect()
    }

    fn random_share(rng: &mut ChaCha8Rng) -> Share {
        let qtypes = QuestionType::ALL;
        let heads = (0..rng.random_range(1..4))
            .map(|_| {
                let (rows, classes) = (rng.random_range(1..7), rng.random_range(2..5));
                let logits = (0..rows * classes).map(|_| rng.random::<f32>()).collect();
                let targets =
                    (0..rows).map(|_| (rng.random::<f32>() < 0.8).then(|| rng.random_range(0..classes))).collect();
                let types = (0..rows).map(|_| qtypes[rng.random_range(0..qtypes.len())]).collect();
                Head { logits, classes, targets, qtypes: types }
            })
            .collect();
        let objects = rng.random_range(0..4);
        let probe = (objects > 0).then(|| {
            let shape = (0..objects * 3).map(|_| rng.random::<f32>()).collect();
            let colour = (0..objects * 2).map(|_| rng.random::<f32>()).collect();
            let shapes = (0..objects).map(|_| rng.random_range(0..3)).collect();
            let colours = (0..objects).map(|_| rng.random_range(0..2)).collect();
            Probe { shape, shapes, colour, colours }
        });
        Share { loss: rng.random::<f32>() * 3.0, heads, probe }
    }

    fn tensor(values: &[f32], classes: usize) -> Tensor<Training, 2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len() / classes, classes]), &device())
    }

    fn metrics(share: &Share) -> StepMetrics {
        let mut metrics = StepMetrics::default();
        metrics.loss(&Tensor::from_data(TensorData::new(vec![share.loss], [1]), &device()));
        for head in &share.heads {
            metrics.answers(&tensor(&head.logits, head.classes), head.targets.clone(), head.qtypes.clone());
        }
        if let Some(probe) = &share.probe {
            metrics.probe(&tensor(&probe.shape, 3), &probe.shapes, &tensor(&probe.colour, 2), &probe.colours);
        }
        metrics
    }

    /// What the loop summed when each step read its figures at once.
    fn read_per_step(steps: &[Vec<Share>]) -> Figures {
        let mut figures = Figures::default();
        for shares in steps {
            let mut loss = 0.0;
            for share in shares {
                loss += f64::from(share.loss);
                for head in &share.heads {
                    let predicted = host_argmax(&head.logits, head.classes);
                    for ((p, target), qtype) in predicted.into_iter().zip(&head.targets).zip(&head.qtypes) {
                        let entry = figures.tally.entry(*qtype).or_default();
                        entry.0 += usize::from(*target == Some(p));
                        entry.1 += 1;
                    }
                }
                if let Some(Probe { shape, shapes, colour, colours }) = &share.probe {
                    let right = |logits: &[f32], classes, truth: &[usize]| {
                        host_argmax(logits, classes).iter().zip(truth).filter(|(p, t)| p == t).count()
                    };
                    figures.probe += ProbeTally {
                        shapes_right: right(shape, 3, shapes),
                        colours_right: right(colour, 2, colours),
                        objects: shapes.len(),
                    };
                }
            }
            figures.loss_sum += loss;
            figures.steps += 1;
        }
        figures
    }

    #[test]
    fn accumulated_figures_equal_per_step_reads() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Steps of one to three shares (data-parallel steps have several).
        let steps: Vec<Vec<Share>> =
            (0..6).map(|_| (0..rng.random_range(1..4)).map(|_| random_share(&mut rng)).collect()).collect();
        let step_metrics = |shares: &[Share]| {
            let mut step = StepMetrics::default();
            shares.iter().for_each(|share| step.append(metrics(share)));
            step
        };
        let expected = read_per_step(&steps);
        assert!(expected.tally.values().any(|&(right, _)| right > 0) && expected.probe.objects > 0);

        // Read once at the end, and read twice along the way: the same figures.
        let mut once = MetricsAccumulator::new(&device());
        let mut twice = MetricsAccumulator::new(&device());
        for (i, shares) in steps.iter().enumerate() {
            once.push(step_metrics(shares));
            twice.push(step_metrics(shares));
            if i == 2 {
                assert_eq!(twice.read().unwrap(), &read_per_step(&steps[..3]));
            }
        }
        assert_eq!(once.read().unwrap(), &expected);
        assert_eq!(twice.read().unwrap(), &expected);
        // A read with nothing new changes nothing.
        assert_eq!(twice.read().unwrap(), &expected);

        // The one-step read gives that step's figures.
        assert_eq!(step_metrics(&steps[1]).read(&device()).unwrap(), read_per_step(&steps[1..2]));
    }
}
