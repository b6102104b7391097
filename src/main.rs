//! The `policy` binary. All logic lives in the library; `cli/` only parses arguments, reads
//! files, reads the clock, and prints.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
