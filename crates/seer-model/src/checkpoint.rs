//! Checkpoint directories: `config.json` + `model.safetensors` with PyTorch's tensor names and
//! layouts. Loading checks every tensor the config implies, by name and shape.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use seer_core::rng::SplitMix64;

use crate::config::{ModelConfig, ModelKind};
use crate::error::ModelError;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Host copy of a model's tensors: name → (shape, row-major f32 values).
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    pub fn get(&self, name: &str) -> Result<&[f32], ModelError> {
        self.tensors
            .get(name)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| ModelError::Tensor {
                name: name.to_string(),
                message: "missing".into(),
            })
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(s, _)| s.as_slice())
    }

    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) {
        self.tensors.insert(name.into(), (shape, values));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(|s| s.as_str())
    }

    /// Reads a safetensors file (f32, f64 or f16/bf16 tensors, converted to f32).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Weights, ModelError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Tensor {
            name: "<file>".into(),
            message: format!("not a safetensors file: {e}"),
        })?;
        let mut w = Weights::default();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                    .collect(),
                other => {
                    return Err(ModelError::Tensor {
                        name,
                        message: format!("dtype {other:?} is not supported (use float32)"),
                    });
                }
            };
            if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::Tensor {
                    name,
                    message: format!("element {bad} is not finite"),
                });
            }
            w.insert(name, view.shape().to_vec(), values);
        }
        Ok(w)
    }

    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, v))| {
                (
                    n.clone(),
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(n, s, b)| {
                safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ModelError::Tensor {
                        name: n.clone(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        safetensors::serialize(views, None).map_err(|e| ModelError::Tensor {
            name: "<file>".into(),
            message: e.to_string(),
        })
    }

    /// Every expected tensor present with its shape, and nothing else.
    pub fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<(), ModelError> {
        for (name, shape) in expected {
            match self.tensors.get(name) {
                None => {
                    return Err(ModelError::Tensor {
                        name: name.clone(),
                        message: format!("missing (the config implies shape {shape:?})"),
                    });
                }
                Some((got, _)) if got != shape => {
                    return Err(ModelError::Tensor {
                        name: name.clone(),
                        message: format!("has shape {got:?}, the config implies {shape:?}"),
                    });
                }
                _ => {}
            }
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .find(|k| !expected.iter().any(|(n, _)| n == *k))
        {
            return Err(ModelError::Tensor {
                name: extra.clone(),
                message: "is not part of this model (wrong model type or sizes in config.json?)"
                    .into(),
            });
        }
        Ok(())
    }
}

/// `a × b` for a tensor dimension. config.json can hold any u64, and a wrapped product would
/// name a tensor of the wrong shape (or, in a debug build, panic).
fn dim(a: usize, b: usize) -> Result<usize, ModelError> {
    a.checked_mul(b).ok_or_else(|| {
        ModelError::invalid(format!(
            "a tensor dimension of {a} × {b} is too large for any checkpoint"
        ))
    })
}

fn recurrent_tensors(
    out: &mut Vec<(String, Vec<usize>)>,
    prefix: &str,
    input: usize,
    hidden: usize,
    layers: usize,
    gates: usize,
    bidirectional: bool,
) -> Result<(), ModelError> {
    let dirs: &[&str] = if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    };
    let d = dirs.len();
    let rows = dim(gates, hidden)?;
    for l in 0..layers {
        let in_l = if l == 0 { input } else { dim(hidden, d)? };
        for sfx in dirs {
            out.push((format!("{prefix}weight_ih_l{l}{sfx}"), vec![rows, in_l]));
            out.push((format!("{prefix}weight_hh_l{l}{sfx}"), vec![rows, hidden]));
            out.push((format!("{prefix}bias_ih_l{l}{sfx}"), vec![rows]));
            out.push((format!("{prefix}bias_hh_l{l}{sfx}"), vec![rows]));
        }
    }
    Ok(())
}

fn linear_tensors(out: &mut Vec<(String, Vec<usize>)>, prefix: &str, inp: usize, outp: usize) {
    out.push((format!("{prefix}.weight"), vec![outp, inp]));
    out.push((format!("{prefix}.bias"), vec![outp]));
}

/// The tensors (names and shapes) a config implies, PyTorch state_dict style.
pub fn expected_tensors(c: &ModelConfig) -> Result<Vec<(String, Vec<usize>)>, ModelError> {
    let mut t = Vec::new();
    let input = c.derived_input_size();
    let (h, l) = (c.hidden_size, c.num_layers);
    match c.model {
        ModelKind::Lstm => {
            recurrent_tensors(&mut t, "rnn.", input, h, l, 4, false)?;
            linear_tensors(&mut t, "proj", h, c.quantiles.len());
        }
        ModelKind::Rnn => {
            recurrent_tensors(&mut t, "rnn.", input, h, l, 1, false)?;
            linear_tensors(&mut t, "proj", h, c.quantiles.len());
        }
        ModelKind::Seq2seq => {
            recurrent_tensors(&mut t, "encoder.", input, h, l, 4, false)?;
            recurrent_tensors(&mut t, "decoder.", input, h, l, 4, false)?;
            linear_tensors(&mut t, "proj", h, c.quantiles.len());
        }
        ModelKind::Tcn => {
            let mut c_in = input;
            for (i, &c_out) in c.channels.iter().enumerate() {
                let k = c.kernel_size;
                t.push((format!("blocks.{i}.conv1.weight"), vec![c_out, c_in, k]));
                t.push((format!("blocks.{i}.conv1.bias"), vec![c_out]));
                t.push((format!("blocks.{i}.conv2.weight"), vec![c_out, c_out, k]));
                t.push((format!("blocks.{i}.conv2.bias"), vec![c_out]));
                if c_in != c_out {
                    t.push((
                        format!("blocks.{i}.downsample.weight"),
                        vec![c_out, c_in, 1],
                    ));
                    t.push((format!("blocks.{i}.downsample.bias"), vec![c_out]));
                }
                c_in = c_out;
            }
            linear_tensors(&mut t, "head", c_in, dim(c.horizon, c.quantiles.len())?);
        }
        ModelKind::Deepar => {
            t.push((
                "embedding.weight".into(),
                vec![c.cardinality, c.embedding_dim],
            ));
            recurrent_tensors(&mut t, "rnn.", input, h, l, 4, false)?;
            linear_tensors(&mut t, "proj", h, c.distribution()?.raw_params());
        }
        ModelKind::Bilstm => {
            recurrent_tensors(&mut t, "rnn.", input, h, l, 4, true)?;
            linear_tensors(&mut t, "proj", dim(2, h)?, 1);
        }
        ModelKind::Classifier => {
            recurrent_tensors(&mut t, "rnn.", input, h, l, 4, false)?;
            linear_tensors(&mut t, "proj", h, c.classes.len());
        }
    }
    for (name, shape) in &t {
        shape.iter().try_fold(1, |n, &d| dim(n, d)).map_err(|_| {
            ModelError::invalid(format!(
                "{name} would have shape {shape:?}, too large for any checkpoint"
            ))
        })?;
    }
    // an embedding of width 0 is legal in PyTorch but carries nothing; drop it
    t.retain(|(_, s)| s.iter().product::<usize>() > 0 || s.is_empty());
    Ok(t)
}

pub fn read_config(dir: &Path) -> Result<ModelConfig, ModelError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read(&path).map_err(|e| ModelError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_config(&text, &path.display().to_string())
}

/// A `config.json`'s bytes, parsed and validated; errors name `origin` (a path, a store
/// location).
pub fn parse_config(bytes: &[u8], origin: &str) -> Result<ModelConfig, ModelError> {
    let fail = |message: String| ModelError::Config {
        path: origin.to_string(),
        message,
    };
    let config: ModelConfig = serde_json::from_slice(bytes).map_err(|e| fail(e.to_string()))?;
    config.validate().map_err(|e| fail(e.to_string()))?;
    Ok(config)
}

/// Reads and checks a checkpoint directory.
pub fn load(dir: &Path) -> Result<(ModelConfig, Weights), ModelError> {
    let config = read_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ModelError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let weights = Weights::from_safetensors(&bytes)?;
    weights.check(&expected_tensors(&config)?)?;
    Ok((config, weights))
}

/// The bytes of a checkpoint's two files, exactly as [`save`] writes them.
pub fn checkpoint_bytes(
    config: &ModelConfig,
    weights: &Weights,
) -> Result<(Vec<u8>, Vec<u8>), ModelError> {
    let text =
        serde_json::to_string_pretty(config).map_err(|e| ModelError::invalid(e.to_string()))?;
    Ok(((text + "\n").into_bytes(), weights.to_safetensors()?))
}

/// A model's version: hex of a 48-bit FNV-1a hash over `config.json` then
/// `model.safetensors`, so the same files give the same version on every replica.
pub fn content_version(config_bytes: &[u8], weights_bytes: &[u8]) -> String {
    // FNV-1a over the concatenation, streamed: the offset basis continues through both files.
    let mut h: u64 = seer_core::hash::fnv1a64(config_bytes);
    for &b in weights_bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

pub fn save(dir: &Path, config: &ModelConfig, weights: &Weights) -> Result<(), ModelError> {
    let io = |p: &Path, e: std::io::Error| ModelError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let (config_bytes, weights_bytes) = checkpoint_bytes(config, weights)?;
    let cpath = dir.join(CONFIG_FILE);
    std::fs::write(&cpath, config_bytes).map_err(|e| io(&cpath, e))?;
    let wpath = dir.join(WEIGHTS_FILE);
    std::fs::write(&wpath, weights_bytes).map_err(|e| io(&wpath, e))?;
    Ok(())
}

/// Seeded random weights with PyTorch's default initialisation ranges: U(±1/√H) for recurrent
/// layers, U(±1/√fan_in) for linear and conv layers, N(0, 1)-like U(±√3) for embeddings.
pub fn init_weights(config: &ModelConfig, seed: u64) -> Result<Weights, ModelError> {
    let mut rng = SplitMix64::new(seed ^ 0x5EE5_F0CA_57E5_0000);
    let mut w = Weights::default();
    for (name, shape) in expected_tensors(config)? {
        let n: usize = shape.iter().product();
        let bound = if name.starts_with("embedding") {
            3f64.sqrt()
        } else if name.contains("_hh_") || name.contains("_ih_") {
            1.0 / (config.hidden_size as f64).sqrt()
        } else {
            let fan_in: usize = if shape.len() > 1 {
                shape[1..].iter().product()
            } else {
                shape[0]
            };
            let fan_in = if name.ends_with(".bias") {
                // PyTorch bounds a bias by its weight's fan-in
                fan_in_of_weight(config, &name).unwrap_or(fan_in)
            } else {
                fan_in
            };
            1.0 / (fan_in.max(1) as f64).sqrt()
        };
        let values = (0..n)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect();
        w.insert(name, shape, values);
    }
    Ok(w)
}

fn fan_in_of_weight(config: &ModelConfig, bias: &str) -> Option<usize> {
    let weight = bias.strip_suffix(".bias")?.to_string() + ".weight";
    let expected = expected_tensors(config).ok()?;
    let (_, shape) = expected.into_iter().find(|(n, _)| *n == weight)?;
    Some(shape[1..].iter().product())
}
