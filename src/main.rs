fn main() {
    // Before anything else, while the process has one thread.
    git_oc::git::scrub_environment();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // git-oc re-executes itself as the supervisor of each agent process (see
    // execution::process): the agent then dies with git-oc, however git-oc ends.
    if args
        .get(1)
        .is_some_and(|a| a == git_oc::execution::process::SUPERVISOR_ARG)
    {
        std::process::exit(git_oc::execution::process::supervise(&args[2..]));
    }
    std::process::exit(git_oc::cli::main_with_args(args));
}
