//! Path patterns with git's gitignore semantics.
//!
//! The reference matches with Python's `fnmatch`, where `**/.ssh/**` misses `.ssh/id_rsa` at the
//! repository root. git-oc deliberately uses the rules a git user already knows from
//! `.gitignore` instead: a pattern without a slash matches the basename at any depth, a pattern
//! with a slash is anchored at the repository root, `**` spans directories, and a matched
//! directory covers everything below it.

use gix::glob::{Pattern, pattern::Case, wildmatch};

/// Whether the repository-relative `path` is covered by `pattern`, as git would decide whether
/// it is ignored by that single `.gitignore` line (without negation).
///
/// The path matches when the path itself matches, or when one of its leading directories does.
/// An empty or blank pattern matches nothing. A path with a trailing slash is taken as a
/// directory; leading `./` and `/` are ignored, so a declared scope of `/.ssh/x` or `./.ssh/x`
/// cannot slip past a rule for `.ssh`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let Some(pattern) = Pattern::from_bytes_without_negation(pattern.as_bytes()) else {
        return false;
    };
    let path = normalize(path);
    if path.is_empty() {
        return false;
    }
    if matches_one(&pattern, path, path.ends_with('/')) {
        return true;
    }
    path.match_indices('/')
        .map(|(at, _)| &path[..at])
        .filter(|dir| !dir.is_empty() && !dir.ends_with('/'))
        .any(|dir| matches_one(&pattern, dir, true))
}

fn matches_one(pattern: &Pattern, path: &str, is_dir: bool) -> bool {
    pattern.matches_repo_relative_path(
        path.into(),
        path.rfind('/').map(|p| p + 1),
        Some(is_dir),
        Case::Sensitive,
        wildmatch::Mode::NO_MATCH_SLASH_LITERAL,
    )
}

/// Drop leading `/` and `./` components: gix requires a relative path, and both spellings name
/// the same repository path.
fn normalize(mut path: &str) -> &str {
    loop {
        if let Some(rest) = path.strip_prefix('/') {
            path = rest;
        } else if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        } else {
            return path;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn yes(pattern: &str, path: &str) {
        assert!(path_matches(pattern, path), "{pattern:?} should match {path:?}");
    }

    #[track_caller]
    fn no(pattern: &str, path: &str) {
        assert!(!path_matches(pattern, path), "{pattern:?} should not match {path:?}");
    }

    #[test]
    fn double_star_directory_matches_at_root_and_below() {
        yes("**/.ssh/**", ".ssh/id_rsa");
        yes("**/.ssh/**", "home/u/.ssh/id_rsa");
        yes("**/.gnupg/**", "home/u/.gnupg/pubring.kbx");
        no("**/.ssh/**", "home/u/ssh/id_rsa");
    }

    #[test]
    fn slashless_patterns_match_the_basename_at_any_depth() {
        yes("*.env", "a/b.env");
        yes("*.env", ".env");
        no("*.env", ".env.prod");
        yes("Dockerfile*", "svc/Dockerfile.dev");
        yes("Dockerfile*", "Dockerfile");
        yes("docker-compose*.yml", "docker-compose.override.yml");
        yes("docker-compose.yml", "deploy/docker-compose.yml");
    }

    #[test]
    fn a_matched_directory_covers_its_contents() {
        yes(".env*", ".env.production");
        yes(".env*", ".env.d/x");
        yes("**/migrations/**", "db/migrations/0010.py");
        yes("build/", "build/out/a.o");
        no("build/", "build");
    }

    #[test]
    fn patterns_with_a_slash_are_anchored() {
        yes(".github/workflows/**", ".github/workflows/ci.yml");
        no(".github/workflows/**", "x/.github/workflows/ci.yml");
        yes("config/secrets*", "config/secrets.yml");
        no("config/secrets*", "x/config/secrets.yml");
        yes("/config", "config/app.toml");
    }

    #[test]
    fn star_does_not_cross_a_slash() {
        yes("src/*.rs", "src/a.rs");
        no("src/*.rs", "src/a/b.rs");
    }

    #[test]
    fn matching_is_case_sensitive() {
        no("*.env", "A.ENV");
        no("Dockerfile*", "dockerfile");
    }

    #[test]
    fn empty_and_blank_patterns_match_nothing() {
        no("", "a");
        no("   ", "a");
        no("*", "");
    }

    #[test]
    fn leading_slash_and_dot_slash_are_ignored() {
        yes("**/.ssh/**", "/.ssh/id_rsa");
        yes("**/.ssh/**", "./.ssh/id_rsa");
        yes("config/secrets*", ".//config/secrets.yml");
    }

    #[test]
    fn trailing_slash_paths_are_directories() {
        yes("**/secrets/**", "x/secrets/");
        yes("secrets", "x/secrets/");
        yes("build/", "build/");
        no("**/secrets/**", "x/secret/");
    }
}
