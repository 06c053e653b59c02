fn main() {
    std::process::exit(git_oc::cli::main_with_args(std::env::args_os().collect()));
}
