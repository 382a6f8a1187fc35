//! Prints each parameter's norm and gradient norm for one training batch of a model folder,
//! to see whether the visual pathway receives gradient.
//! Usage: diag_grads MODEL_DIR DATA_DIR [GIFS] [frameqa]
use std::collections::HashMap;

use anyhow::{Context, Result};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use shared_model::bundle::ModelBundle;
use shared_model::sampling::SamplingStrategy;
use shared_model::text::questions::QuestionType;
use trainer::data::BatchQuestion;
use trainer::runtime::backend::{self, Training};
use trainer::train::forward::{cross_entropy, forward};

struct Norms<'a> {
    grads: &'a burn::optim::GradientsParams,
    path: Vec<String>,
    groups: Vec<(String, f64, f64)>,
}

impl ModuleVisitor<Training> for Norms<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Training, D>>) {
        let value: f64 = param.val().inner().powf_scalar(2.0).sum().into_scalar().into();
        let grad: f64 = self
            .grads
            .get::<backend::Compute, D>(param.id)
            .map(|g| g.powf_scalar(2.0).sum().into_scalar().into())
            .unwrap_or(-1.0);
        self.groups.push((self.path.join("."), value.sqrt(), if grad < 0.0 { grad } else { grad.sqrt() }));
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let device = backend::device();
    let (Some(model_dir), Some(data_dir)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: diag_grads MODEL_DIR DATA_DIR [GIFS] [frameqa]");
    };
    let bundle = ModelBundle::<Training>::load_dir(std::path::Path::new(model_dir), &device).context("model")?;
    let gifs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let only_fq = args.get(4).is_some_and(|s| s == "frameqa");
    let split = trainer::data::load(std::path::Path::new(data_dir), "Train", &bundle.config.preprocess, Some(gifs))?;
    let strategy = SamplingStrategy::parse(&bundle.config.sampling, 16)?;
    let answer_index: HashMap<String, usize> =
        bundle.config.answers.iter().enumerate().map(|(i, a)| (a.clone(), i)).collect();
    let clips: Vec<_> = split
        .gifs
        .iter()
        .map(|g| {
            let frames: Vec<_> = (0..strategy.frames_per_clip())
                .map(|i| {
                    let t = (i as f64 + 0.5) / strategy.frames_per_clip() as f64;
                    shared_model::sampling::SampledFrame {
                        source: shared_model::sampling::FrameSource::Index(g.timeline.frame_at(t)),
                        time: t as f32,
                    }
                })
                .collect();
            g.clip(&frames, split.size)
        })
        .collect();
    let questions: Vec<BatchQuestion> = split
        .gifs
        .iter()
        .enumerate()
        .flat_map(|(v, g)| g.items.iter().map(move |&i| (v, i)))
        .map(|(video, i)| BatchQuestion { video, item: &split.items[i] })
        .filter(|q| !only_fq || q.item.qtype == QuestionType::FrameQa)
        .collect();
    let refs: Vec<_> = clips.iter().collect();
    let out = forward(
        &bundle.model,
        &bundle.config,
        trainer::data::text_cache::Texts::uncached(&bundle.tokenizer),
        &answer_index,
        &refs,
        &questions,
        strategy.top_k(),
        trainer::train::forward::Routing::ByType,
        &device,
    )?;
    let mut loss: Option<Tensor<Training, 1>> = None;
    for head in out.choice.iter().chain(out.word.iter()).chain(out.count.iter()) {
        if let Some(l) = cross_entropy(head, &device) {
            loss = Some(match loss {
                Some(t) => t + l,
                None => l,
            });
        }
    }
    let loss = loss.context("no loss")?;
    println!("loss {:.4}", f64::from(loss.clone().into_scalar()));
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &bundle.model);
    let mut norms = Norms { grads: &grads, path: Vec::new(), groups: Vec::new() };
    bundle.model.visit(&mut norms);
    for (path, value, grad) in norms.groups {
        println!("{path:60} |w| {value:9.4} |g| {grad:10.6} ratio {:.2e}", grad / value.max(1e-12));
    }
    Ok(())
}
