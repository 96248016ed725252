//! `ffn`: train, fine-tune, import, export, evaluate, predict with, describe and benchmark
//! feedforward models. A thin binary over the `ffn-train` library: it parses the command line
//! (`args`), resolves settings (`settings`), runs one command (`commands`) and prints what the
//! library returns (`printer`).

mod args;
mod commands;
mod interrupt;
mod printer;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: the first statement of `main`: no other thread exists yet.
    unsafe { ffn_train::pin_default_device() };
    keep_freed_memory();
    let cli = args::Cli::parse();
    match commands::run(cli.command) {
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
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
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
