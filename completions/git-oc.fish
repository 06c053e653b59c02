# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_git_oc_global_optspecs
    string join \n v/verbose q/quiet json h/help V/version
end

function __fish_git_oc_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_git_oc_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_git_oc_using_subcommand
    set -l cmd (__fish_git_oc_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c git-oc -n "__fish_git_oc_needs_command" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_needs_command" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_needs_command" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_needs_command" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "demo" -d 'Run the end-to-end demo: plan, stub routing, policy gate, stub backend on a real worktree'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "run" -d 'Run a coding agent on a goal, in its own worktree and branch, and record the evidence'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "diff" -d 'Show a run\'s change, or what two runs of one task did differently'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "apply" -d 'Land a run\'s change on the current branch'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "discard" -d 'Remove a run\'s worktree and branch now'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "retry" -d 'Run a run\'s task again, as a new run on a new branch'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "plan" -d 'Show the proposal, routing decision and policy decision for a goal, without running anything'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "policy" -d 'Show the effective policy, or check a proposal against it'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "runs" -d 'List recorded runs, newest first'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "show" -d 'Show a run\'s summary, or one of its evidence files'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "push" -d 'Publish evidence refs and notes to a remote'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "fetch" -d 'Fetch evidence refs and notes from a remote'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "gc" -d 'Remove finished runs\' worktrees and stale run branches'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "doctor" -d 'Check git, identity, configuration, policy, routing, backends, tokens and evidence'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "init" -d 'Set up the repository so that git-oc\'s evidence travels and shows with plain git'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "completions" -d 'Print a completion script for SHELL on stdout'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "man" -d 'Write man pages (git-oc.1 and git-oc-<command>.1) into DIR'
complete -c git-oc -n "__fish_git_oc_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l goal -d 'The goal to plan' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l repo-key -d 'Repository key used by planning and as the policy key' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l workspace-path -d 'Where to create the run\'s worktree [default: <git-dir>/oc/worktrees/demo-run-<8 hex>]' -r -F
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l backend -d 'Backend (the demo only has the stub)' -r -f -a "stub\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l routing -d 'Routing (the demo only has the offline stub router)' -r -f -a "stub\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l blocked-policy -d 'Gate with a policy that requires human approval: the run is blocked, evidence is kept'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand demo" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l goal -d 'What the agent should do' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l task-type -d 'Task type' -r -f -a "lint_fix\t''
bug_fix\t''
simple_edit\t''
test_write\t''
documentation\t''
refactor\t''
feature\t''
dependency_update\t''
unknown\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l risk -d 'Risk level' -r -f -a "low\t''
medium\t''
high\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l priority -d 'Priority' -r -f -a "low\t''
normal\t''
high\t''
critical\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l label -d 'A label for the proposal (repeatable), e.g. local_only' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l path -d 'A path pattern the change is declared to stay within (repeatable)' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l backend -d 'The agent backend (skips the router)' -r -f -a "command\t'Any program: the argv after `--`, with {goal_file}, {worktree}, {run_id}, {task_id} and {goal} placeholders; the goal is also in GIT_OC_GOAL'
kodo\t'kodo --goal-file … --project … --yes'
claude\t'Claude Code: claude -p <prompt> --permission-mode acceptEdits'
codex\t'OpenAI Codex CLI: codex exec --sandbox workspace-write <prompt>'
aider\t'aider --message-file … --yes-always --no-auto-commits'"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l lane -d 'The lane (skips the router; the backend defaults from it)' -r -f -a "claude_cli\t''
codex_cli\t''
aider_local\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l routing -d 'The router when neither --backend nor --lane is given [default: from configuration, else rules]' -r -f -a "rules\t''
switchboard\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l base -d 'The commit to branch from' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l repo-key -d 'Repository key used as the policy key [default: from configuration, else the repository\'s name]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l validate -d 'A validation command run in the worktree after the agent, with sh -c (repeatable) [default: run.validate from configuration]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l branch -d 'The run branch; {task_id} and {run} (8 random hex) are replaced [default: run.branch, else oc/{task_id}]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l timeout -d 'Seconds the agent may run before its process group is killed [default: run.timeout, else 1800]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l validation-timeout -d 'Seconds each validation command may run [default: run.validation_timeout, else 600]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l workspace-path -d 'Where to create the run\'s worktree [default: <git-dir>/oc/worktrees/<branch>-<8 hex>]' -r -F
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand run" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -l stat -d 'Only the changed files and their line counts'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -l name-only -d 'Only the names of the changed files'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand diff" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l squash -d 'One new commit with the run\'s change and message'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l merge -d 'A merge commit joining the run\'s branch'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l cherry-pick -d 'The run\'s commits replayed on the current branch [default]'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l reviewed -d 'Land a run the policy sent to review, after reviewing it'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l dry-run -d 'Check that it would apply cleanly; change nothing'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand apply" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -l evidence -d 'Also delete the run\'s evidence ref'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand discard" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand retry" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand retry" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand retry" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand retry" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l goal -d 'What the agent should do' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l task-type -d 'Task type' -r -f -a "lint_fix\t''
bug_fix\t''
simple_edit\t''
test_write\t''
documentation\t''
refactor\t''
feature\t''
dependency_update\t''
unknown\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l risk -d 'Risk level' -r -f -a "low\t''
medium\t''
high\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l priority -d 'Priority' -r -f -a "low\t''
normal\t''
high\t''
critical\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l label -d 'A label for the proposal (repeatable), e.g. local_only' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l path -d 'A path pattern the change is declared to stay within (repeatable)' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l backend -d 'The agent backend (skips the router)' -r -f -a "command\t'Any program: the argv after `--`, with {goal_file}, {worktree}, {run_id}, {task_id} and {goal} placeholders; the goal is also in GIT_OC_GOAL'
kodo\t'kodo --goal-file … --project … --yes'
claude\t'Claude Code: claude -p <prompt> --permission-mode acceptEdits'
codex\t'OpenAI Codex CLI: codex exec --sandbox workspace-write <prompt>'
aider\t'aider --message-file … --yes-always --no-auto-commits'"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l lane -d 'The lane (skips the router; the backend defaults from it)' -r -f -a "claude_cli\t''
codex_cli\t''
aider_local\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l routing -d 'The router when neither --backend nor --lane is given [default: from configuration, else rules]' -r -f -a "rules\t''
switchboard\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l base -d 'The commit to branch from' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l repo-key -d 'Repository key used as the policy key [default: from configuration, else the repository\'s name]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l validate -d 'A validation command run in the worktree after the agent, with sh -c (repeatable) [default: run.validate from configuration]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand plan" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -s h -l help -d 'Print help'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -f -a "show" -d 'Show the effective policy and routing configuration, and where each part came from'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -f -a "check" -d 'Evaluate a goal, task type, risk, labels and paths against the policy, without running'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and not __fish_seen_subcommand_from show check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from show" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l goal -d 'What the agent should do' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l task-type -d 'Task type' -r -f -a "lint_fix\t''
bug_fix\t''
simple_edit\t''
test_write\t''
documentation\t''
refactor\t''
feature\t''
dependency_update\t''
unknown\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l risk -d 'Risk level' -r -f -a "low\t''
medium\t''
high\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l priority -d 'Priority' -r -f -a "low\t''
normal\t''
high\t''
critical\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l label -d 'A label for the proposal (repeatable), e.g. local_only' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l path -d 'A path pattern the change is declared to stay within (repeatable)' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l backend -d 'The agent backend (skips the router)' -r -f -a "command\t'Any program: the argv after `--`, with {goal_file}, {worktree}, {run_id}, {task_id} and {goal} placeholders; the goal is also in GIT_OC_GOAL'
kodo\t'kodo --goal-file … --project … --yes'
claude\t'Claude Code: claude -p <prompt> --permission-mode acceptEdits'
codex\t'OpenAI Codex CLI: codex exec --sandbox workspace-write <prompt>'
aider\t'aider --message-file … --yes-always --no-auto-commits'"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l lane -d 'The lane (skips the router; the backend defaults from it)' -r -f -a "claude_cli\t''
codex_cli\t''
aider_local\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l routing -d 'The router when neither --backend nor --lane is given [default: from configuration, else rules]' -r -f -a "rules\t''
switchboard\t''"
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l base -d 'The commit to branch from' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l repo-key -d 'Repository key used as the policy key [default: from configuration, else the repository\'s name]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l validate -d 'A validation command run in the worktree after the agent, with sh -c (repeatable) [default: run.validate from configuration]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the effective policy and routing configuration, and where each part came from'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "check" -d 'Evaluate a goal, task type, risk, labels and paths against the policy, without running'
complete -c git-oc -n "__fish_git_oc_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l status -d 'Only runs with this outcome or result status (executed, no_op, blocked, failed, succeeded, …)' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l backend -d 'Only runs routed to this backend' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l lane -d 'Only runs in this lane' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l since -d 'Only runs at or after this time: an RFC 3339 date or time, or an age like 2h, 3d, 1w' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l until -d 'Only runs before this time (same forms as --since)' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -s n -l max-count -d 'At most this many runs' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand runs" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand show" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand show" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand show" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand show" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand push" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand push" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand push" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand push" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand fetch" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand fetch" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand fetch" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand fetch" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -l older-than -d 'Retention in days [default: gc.retention_days, else 7]' -r
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -l dry-run -d 'Say what would be removed, remove nothing'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -l evidence -d 'Also delete evidence refs older than --older-than (which must then be given)'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand gc" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand doctor" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand doctor" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand doctor" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -l undo -d 'Remove the values init adds'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c git-oc -n "__fish_git_oc_using_subcommand init" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand completions" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand completions" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand completions" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand completions" -s h -l help -d 'Print help'
complete -c git-oc -n "__fish_git_oc_using_subcommand completions" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand man" -s v -l verbose -d 'Print more detail on stderr (repeat for more)'
complete -c git-oc -n "__fish_git_oc_using_subcommand man" -s q -l quiet -d 'Print only data and errors'
complete -c git-oc -n "__fish_git_oc_using_subcommand man" -l json -d 'Print one JSON document on stdout instead of the report'
complete -c git-oc -n "__fish_git_oc_using_subcommand man" -s h -l help -d 'Print help'
complete -c git-oc -n "__fish_git_oc_using_subcommand man" -s V -l version -d 'Print version'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "demo" -d 'Run the end-to-end demo: plan, stub routing, policy gate, stub backend on a real worktree'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "run" -d 'Run a coding agent on a goal, in its own worktree and branch, and record the evidence'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "diff" -d 'Show a run\'s change, or what two runs of one task did differently'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "apply" -d 'Land a run\'s change on the current branch'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "discard" -d 'Remove a run\'s worktree and branch now'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "retry" -d 'Run a run\'s task again, as a new run on a new branch'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "plan" -d 'Show the proposal, routing decision and policy decision for a goal, without running anything'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "policy" -d 'Show the effective policy, or check a proposal against it'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "runs" -d 'List recorded runs, newest first'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "show" -d 'Show a run\'s summary, or one of its evidence files'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "push" -d 'Publish evidence refs and notes to a remote'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "fetch" -d 'Fetch evidence refs and notes from a remote'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "gc" -d 'Remove finished runs\' worktrees and stale run branches'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "doctor" -d 'Check git, identity, configuration, policy, routing, backends, tokens and evidence'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "init" -d 'Set up the repository so that git-oc\'s evidence travels and shows with plain git'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "completions" -d 'Print a completion script for SHELL on stdout'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "man" -d 'Write man pages (git-oc.1 and git-oc-<command>.1) into DIR'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and not __fish_seen_subcommand_from demo run diff apply discard retry plan policy runs show push fetch gc doctor init completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "show" -d 'Show the effective policy and routing configuration, and where each part came from'
complete -c git-oc -n "__fish_git_oc_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "check" -d 'Evaluate a goal, task type, risk, labels and paths against the policy, without running'

# `git oc <TAB>`: complete the words after `git oc` as `git-oc` would.
function __git_oc_complete
    set -l tokens (commandline -opc)
    set -l at (contains -i -- oc $tokens)
    set -l rest $tokens[(math $at + 1)..-1]
    complete -C "git-oc $rest "(commandline -ct)
end
complete -c git -n '__fish_seen_subcommand_from oc' -f -a '(__git_oc_complete)'
