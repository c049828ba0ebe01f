//! The `netrig` binary; the command line lives in [`netrig::cli`].

fn main() -> std::process::ExitCode {
    netrig::cli::main()
}
