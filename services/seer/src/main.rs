//! `seer`: one binary, one subcommand per job.

mod bench;
mod bench_gateway;
mod bench_ingest;
mod bench_pipeline;
mod config;
mod eval;
mod gateway_cmd;
mod info;
mod init;
mod predict;
mod services;
mod terminal;
mod train;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "seer",
    version,
    about = "Streaming neural forecasting on the GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the GPU adapter seer runs on and the limits that matter
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Model checkpoints
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Forecast (or fill gaps, or classify) every series of a long-format CSV
    Predict(predict::PredictArgs),
    /// The whole pipeline on an embedded broker: demo producer → ingest → GPU engine → forecasts
    Up(up::UpArgs),
    /// The GPU engine alone: gRPC seer.v1.Engine
    Engine(services::EngineArgs),
    /// The Kafka ingest alone
    Ingest(services::IngestArgs),
    /// The public gRPC API alone: seer.v1.Forecasts and seer.v1.Models
    Gateway(gateway_cmd::GatewayArgs),
    /// Online fine-tuning alone: scores live forecasts, fine-tunes, promotes, rolls back
    Trainer(services::TrainerArgs),
    /// Produce a long-format CSV onto the observations topic
    Replay(services::ReplayArgs),
    /// Train a model on a long-format CSV and write a checkpoint
    Train(train::TrainArgs),
    /// Rolling-origin backtest of a checkpoint against seasonal naive
    Eval(eval::EvalArgs),
    /// The effective configuration of a service, with where each value came from
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Benchmarks
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the configuration a service would run with (secrets redacted), or the error it
    /// would stop with
    Print(config::PrintArgs),
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Write a checkpoint with seeded random weights
    Init(init::InitArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time every kernel on the chosen adapter
    Kernels {
        #[arg(long)]
        json: bool,
        /// Run the full reference shapes even on the software adapter (slow: minutes)
        #[arg(long)]
        full: bool,
        /// Timed repetitions per shape
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Also write the JSON report to this file
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Training-step throughput of a DeepAR-shaped model
    Train {
        #[arg(long)]
        json: bool,
        /// The reference batch of 4096 windows even on the software adapter (slow)
        #[arg(long)]
        full: bool,
        /// Timed steps (after a warm-up epoch of as many)
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// End-to-end events/s and latency: raw consume vs ingest → engine → Kafka
    Pipeline(bench_pipeline::PipelineArgs),
    /// GetLatest requests/s and latency through the gateway, and its view's memory
    Gateway(bench_gateway::GatewayBenchArgs),
    /// The ingest's own work per event and per forecast (no Kafka, no engine), and its memory
    /// per series
    Ingest(bench_ingest::IngestBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // service commands set up logging from their loaded configuration (a --config file may set
    // it); a second init is a no-op, so this one only takes effect for the others
    if !matches!(
        cli.command,
        Command::Engine(_)
            | Command::Ingest(_)
            | Command::Gateway(_)
            | Command::Trainer(_)
            | Command::Replay(_)
    ) {
        seer_runtime::init_logging(&config::log_from_env());
    }
    let result = match cli.command {
        Command::Info { json } => info::run(json),
        Command::Model {
            command: ModelCommand::Init(args),
        } => init::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Up(args) => up::run(&args),
        Command::Engine(args) => services::engine(&args),
        Command::Ingest(args) => services::ingest(&args),
        Command::Gateway(args) => gateway_cmd::run(&args),
        Command::Trainer(args) => services::trainer(&args),
        Command::Replay(args) => services::replay(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Config {
            command: ConfigCommand::Print(args),
        } => config::print(&args),
        Command::Bench {
            command:
                BenchCommand::Kernels {
                    json,
                    full,
                    reps,
                    out,
                },
        } => bench::run_kernels(json, full, reps, out.as_deref()),
        Command::Bench {
            command:
                BenchCommand::Train {
                    json,
                    full,
                    steps,
                    out,
                },
        } => bench::run_train(json, full, steps, out.as_deref()),
        Command::Bench {
            command: BenchCommand::Pipeline(args),
        } => bench_pipeline::run(&args),
        Command::Bench {
            command: BenchCommand::Gateway(args),
        } => bench_gateway::run(&args),
        Command::Bench {
            command: BenchCommand::Ingest(args),
        } => bench_ingest::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(terminal::exit_code(&err))
        }
    }
}
