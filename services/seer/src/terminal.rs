//! What the binary answers the shell: stdout that tolerates a closed pipe, and exit codes that
//! tell bad input (2) from failures (1).

/// Exit code for bad input (data, checkpoint, request); 1 is left for runtime failures.
const EXIT_BAD_INPUT: u8 = 2;

/// An error that is the user's input's fault (exit 2) rather than seer's or the machine's.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Writes to stdout; a closed pipe (`seer predict … | head`) is not an error.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The process exit status for `err`: 2 when the input was at fault, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use seer_model::ModelError;
    for cause in err.chain() {
        if cause.is::<BadInput>()
            || cause.is::<seer_core::CoreError>()
            || cause.is::<seer_runtime::ConfigError>()
        {
            return EXIT_BAD_INPUT;
        }
        if let Some(m) = cause.downcast_ref::<ModelError>() {
            return match m {
                ModelError::Gpu(_) => 1,
                _ => EXIT_BAD_INPUT,
            };
        }
    }
    1
}
