//! The kernel registry: every WGSL file under `shaders/`, embedded at build time, and the entry
//! points seer dispatches. `common.wgsl` is prepended to each file (WGSL has no includes).

use crate::error::GpuError;

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// One WGSL source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shader {
    Gemm,
    Lstm,
    Rnn,
    Conv,
    Softmax,
    Heads,
    Decode,
    RecurrentBackward,
    RnnBackward,
    Optim,
    Elementwise,
    ConvBackward,
    Loss,
}

impl Shader {
    pub const ALL: &'static [Shader] = &[
        Shader::Gemm,
        Shader::Lstm,
        Shader::Rnn,
        Shader::Conv,
        Shader::Softmax,
        Shader::Heads,
        Shader::Decode,
        Shader::RecurrentBackward,
        Shader::RnnBackward,
        Shader::Optim,
        Shader::Elementwise,
        Shader::ConvBackward,
        Shader::Loss,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Gemm => "gemm.wgsl",
            Shader::Lstm => "lstm.wgsl",
            Shader::Rnn => "rnn.wgsl",
            Shader::Conv => "conv.wgsl",
            Shader::Softmax => "softmax.wgsl",
            Shader::Heads => "heads.wgsl",
            Shader::Decode => "decode.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::RecurrentBackward => "recurrent_backward.wgsl",
            Shader::RnnBackward => "rnn_backward.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Elementwise => "elementwise.wgsl",
            Shader::ConvBackward => "conv_backward.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Shader::Gemm => include_str!("../../../shaders/gemm.wgsl"),
            Shader::Lstm => include_str!("../../../shaders/lstm.wgsl"),
            Shader::Rnn => include_str!("../../../shaders/rnn.wgsl"),
            Shader::Conv => include_str!("../../../shaders/conv.wgsl"),
            Shader::Softmax => include_str!("../../../shaders/softmax.wgsl"),
            Shader::Heads => include_str!("../../../shaders/heads.wgsl"),
            Shader::Decode => include_str!("../../../shaders/decode.wgsl"),
            Shader::Loss => include_str!("../../../shaders/loss.wgsl"),
            Shader::RecurrentBackward => include_str!("../../../shaders/recurrent_backward.wgsl"),
            Shader::RnnBackward => include_str!("../../../shaders/rnn_backward.wgsl"),
            Shader::Optim => include_str!("../../../shaders/optim.wgsl"),
            Shader::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            Shader::ConvBackward => include_str!("../../../shaders/conv_backward.wgsl"),
        }
    }

    /// The source as compiled: the shared prelude, then the file.
    pub fn source(self) -> String {
        format!("{COMMON}\n{}", self.body())
    }
}

/// A compute entry point and the storage bindings (1..) it uses; binding 0 is always the
/// uniform parameter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Gemm,
    LstmSequence,
    RnnSequence,
    Conv1dCausal,
    Softmax,
    DistributionParams,
    SampleStep,
    QuantileFeedback,
    AssembleLags,
    RepeatRows,
    LstmBackward,
    RnnBackward,
    ShiftStates,
    SumSquaresPartial,
    ClipScale,
    AdamStep,
    ReluBackward,
    AddRelu,
    Transpose,
    Axpy,
    Conv1dBackwardInput,
    Conv1dBackwardWeight,
    LikelihoodLoss,
    QuantileLoss,
    MseLoss,
    SoftmaxCrossEntropy,
    SumRows,
    SpecialFunctions,
}

impl Kernel {
    pub const ALL: &'static [Kernel] = &[
        Kernel::Gemm,
        Kernel::LstmSequence,
        Kernel::RnnSequence,
        Kernel::Conv1dCausal,
        Kernel::Softmax,
        Kernel::DistributionParams,
        Kernel::SampleStep,
        Kernel::QuantileFeedback,
        Kernel::AssembleLags,
        Kernel::RepeatRows,
        Kernel::LstmBackward,
        Kernel::RnnBackward,
        Kernel::ShiftStates,
        Kernel::SumSquaresPartial,
        Kernel::ClipScale,
        Kernel::AdamStep,
        Kernel::ReluBackward,
        Kernel::AddRelu,
        Kernel::Transpose,
        Kernel::Axpy,
        Kernel::Conv1dBackwardInput,
        Kernel::Conv1dBackwardWeight,
        Kernel::LikelihoodLoss,
        Kernel::QuantileLoss,
        Kernel::MseLoss,
        Kernel::SoftmaxCrossEntropy,
        Kernel::SumRows,
        Kernel::SpecialFunctions,
    ];

    pub fn shader(self) -> Shader {
        match self {
            Kernel::Gemm => Shader::Gemm,
            Kernel::LstmSequence => Shader::Lstm,
            Kernel::RnnSequence => Shader::Rnn,
            Kernel::Conv1dCausal => Shader::Conv,
            Kernel::Softmax => Shader::Softmax,
            Kernel::DistributionParams | Kernel::SampleStep => Shader::Heads,
            Kernel::QuantileFeedback | Kernel::AssembleLags | Kernel::RepeatRows => Shader::Decode,
            Kernel::LikelihoodLoss
            | Kernel::QuantileLoss
            | Kernel::MseLoss
            | Kernel::SoftmaxCrossEntropy
            | Kernel::SumRows
            | Kernel::SpecialFunctions => Shader::Loss,
            Kernel::LstmBackward => Shader::RecurrentBackward,
            Kernel::RnnBackward | Kernel::ShiftStates => Shader::RnnBackward,
            Kernel::SumSquaresPartial | Kernel::ClipScale | Kernel::AdamStep => Shader::Optim,
            Kernel::ReluBackward | Kernel::AddRelu | Kernel::Transpose | Kernel::Axpy => {
                Shader::Elementwise
            }
            Kernel::Conv1dBackwardInput | Kernel::Conv1dBackwardWeight => Shader::ConvBackward,
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Gemm => "gemm",
            Kernel::LstmSequence => "lstm_sequence",
            Kernel::RnnSequence => "rnn_sequence",
            Kernel::Conv1dCausal => "conv1d_causal",
            Kernel::Softmax => "softmax",
            Kernel::DistributionParams => "distribution_params",
            Kernel::SampleStep => "sample_step",
            Kernel::QuantileFeedback => "quantile_feedback",
            Kernel::AssembleLags => "assemble_lags",
            Kernel::RepeatRows => "repeat_rows",
            Kernel::LikelihoodLoss => "likelihood_loss",
            Kernel::QuantileLoss => "quantile_loss",
            Kernel::MseLoss => "mse_loss",
            Kernel::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Kernel::SumRows => "sum_rows",
            Kernel::SpecialFunctions => "special_functions",
            Kernel::LstmBackward => "lstm_backward",
            Kernel::RnnBackward => "rnn_backward",
            Kernel::ShiftStates => "shift_states",
            Kernel::SumSquaresPartial => "sum_squares_partial",
            Kernel::ClipScale => "clip_scale",
            Kernel::AdamStep => "adam_step",
            Kernel::ReluBackward => "relu_backward",
            Kernel::AddRelu => "add_relu",
            Kernel::Transpose => "transpose",
            Kernel::Axpy => "axpy",
            Kernel::Conv1dBackwardInput => "conv1d_backward_input",
            Kernel::Conv1dBackwardWeight => "conv1d_backward_weight",
        }
    }

    /// Storage bindings the entry point statically uses, in the order callers pass buffers.
    /// The pipeline layout is derived from the shader, so exactly these may be bound.
    pub fn bindings(self) -> &'static [u32] {
        match self {
            Kernel::Gemm => &[1, 2, 3, 4],
            Kernel::LstmSequence => &[1, 2, 3, 4, 5, 6, 7, 8],
            Kernel::RnnSequence => &[1, 2, 3, 4, 5],
            Kernel::Conv1dCausal => &[1, 2, 3, 4, 5],
            Kernel::Softmax => &[1, 2],
            Kernel::DistributionParams => &[1, 2, 3],
            Kernel::SampleStep => &[1, 2, 4, 5],
            Kernel::QuantileFeedback => &[1, 2, 4, 5],
            Kernel::AssembleLags => &[1, 2, 3, 5],
            Kernel::RepeatRows => &[1, 4],
            Kernel::LikelihoodLoss | Kernel::MseLoss => &[1, 2, 3, 4, 5, 6],
            Kernel::QuantileLoss => &[1, 2, 3, 4, 5, 6, 7],
            Kernel::SoftmaxCrossEntropy => &[1, 2, 3, 4],
            Kernel::SumRows | Kernel::SpecialFunctions => &[1, 2],
            Kernel::LstmBackward => &[1, 2, 3, 4, 5, 6, 7, 8, 9],
            Kernel::RnnBackward => &[1, 2, 3, 4, 5, 6],
            Kernel::ShiftStates => &[1, 7, 8],
            Kernel::SumSquaresPartial => &[1, 2],
            Kernel::ClipScale => &[1, 2, 3],
            Kernel::AdamStep => &[1, 2, 3, 4, 5],
            Kernel::ReluBackward | Kernel::AddRelu => &[1, 2, 3],
            Kernel::Transpose | Kernel::Axpy => &[1, 2],
            Kernel::Conv1dBackwardInput | Kernel::Conv1dBackwardWeight => &[1, 2, 3],
        }
    }
}

/// Parses and validates WGSL with naga. Its messages carry line numbers, and an invalid module
/// must never reach the driver, where it could abort the process.
pub fn validate_wgsl(name: &'static str, source: &str) -> Result<(), GpuError> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| GpuError::Shader {
        shader: name,
        message: e.emit_to_string(source),
    })?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| GpuError::Shader {
        shader: name,
        message: e.emit_to_string(source),
    })?;
    Ok(())
}

pub(crate) fn build_pipeline(
    device: &wgpu::Device,
    kernel: Kernel,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let shader = kernel.shader();
    let source = shader.source();
    validate_wgsl(shader.file_name(), &source)?;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(shader.file_name()),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.entry_point()),
        layout: None,
        module: &module,
        entry_point: Some(kernel.entry_point()),
        compilation_options: wgpu::PipelineCompilationOptions::default(),
        cache: None,
    });
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Pipeline {
            kernel: kernel.entry_point(),
            message: err.to_string(),
        });
    }
    Ok(pipeline)
}
