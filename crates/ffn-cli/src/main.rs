//! `ffn`: train, fine-tune, import, export, evaluate, predict with, describe and benchmark
//! feedforward models. A thin binary over the `ffn-train` library: it parses the command line
//! (`args`), resolves settings (`settings`), runs one command (`commands`) and prints what the
//! library returns (`printer`).

mod args;
mod commands;
mod interrupt;
mod printer;
mod settings;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    unsafe { ffn_train::pin_default_device() };
    keep_freed_memory();
    private_runtime_dir();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    if !matches!(cli.command, Some(args::Command::Serve(_))) {
        main_thread_computes();
    }
    let json = cli.command.as_ref().is_some_and(args::Command::json);
    let outcome = settings::remote_token(cli.token_file.as_deref())
        .and_then(|t| commands::run(cli.command, t));
    match outcome {
        Ok(()) if printer::stdout_closed() => {
            eprintln!(
                "note: stdout was closed before the output ended; the command itself finished"
            );
            ExitCode::from(141)
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<interrupt::Stopped>() {
            Some(stopped) => ExitCode::from(stopped.code),
            None => {
                let message = format!("{error:#}");
                let message = ffn_data::escape_controls(&message, false);
                eprintln!("error: {message}");
                if json {
                    let kind = printer::error_kind(&error);
                    let _ = printer::json(&serde_json::json!({"error": message, "kind": kind}));
                }
                ExitCode::FAILURE
            }
        },
    }
}

/// A command line clap rejects: its message on stderr (exit 2), and with `--json` also one JSON
/// object on stdout, as for every other failure. Help and version requests print as usual.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let asked = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !asked && std::env::args().any(|a| a == "--json") {
        let text = error.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let message = ffn_data::escape_controls(message, false);
        let _ = printer::json(&serde_json::json!({"error": message, "kind": "usage"}));
    }
    let _ = error.print();
    ExitCode::from(error.exit_code() as u8)
}

/// Mesa's Vulkan drivers complain on stderr when `XDG_RUNTIME_DIR` is unset or not a directory;
/// such a process gets a private one under the temporary directory instead.
fn private_runtime_dir() {
    let usable = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).is_dir());
    if usable {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ffn-runtime-{}", current_user()));
    let created = {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.recursive(true).create(&dir)
    };
    if created.is_ok() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// The user's ID, to keep runtime directories apart.
fn current_user() -> u32 {
    #[cfg(unix)]
    // SAFETY: getuid has no preconditions and cannot fail.
    return unsafe { libc::getuid() };
    #[cfg(not(unix))]
    0
}

/// The main thread joins rayon's global pool as its first worker (the pool keeps its size:
/// `RAYON_NUM_THREADS`, else one thread per core). The CPU kernels' parallel loops then start on
/// the main thread, which takes a share, instead of being handed to a pool thread while it
/// sleeps and wakes: a language-model step runs thousands of such loops. `ffn serve` computes
/// on its connections' threads, where a main thread outside the work would idle one core.
fn main_thread_computes() {
    // This fails only if the pool already exists, which nothing before this call creates; the
    // default pool then serves as before.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

/// Training allocates and frees the same large tensors every step. By default glibc serves
/// blocks above 128 KiB with `mmap` and unmaps them on `free`, so every step faults its pages
/// back in. Up to 32 MiB (glibc's ceiling for this setting) blocks now come from the heap and
/// freed memory stays there for reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
