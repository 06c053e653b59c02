//! Path patterns with git's gitignore semantics.
//!
//! The reference matches with Python's `fnmatch`, where `**/.ssh/**` misses `.ssh/id_rsa` at the
//! repository root. git-oc deliberately uses the rules a git user already knows from
//! `.gitignore` instead: a pattern without a slash matches the basename at any depth, a pattern
//! with a slash is anchored at the repository root, `**` spans directories, and a matched
//! directory covers everything below it.

use std::borrow::Cow;

use gix::glob::{Pattern, pattern::Case, wildmatch};

/// Whether the repository-relative `path` is covered by `pattern`, as git would decide whether
/// it is ignored by that single `.gitignore` line (without negation). Case-sensitive.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    path_matches_case(pattern, path, false)
}

/// [`path_matches`], case-insensitive when `ignore_case` is true (a repository with
/// `core.ignorecase`, where `.SSH/id_rsa` and `.ssh/id_rsa` are the same file).
///
/// The path matches when the path itself matches, or when one of its leading directories does.
/// An empty or blank pattern matches nothing. A path with a trailing slash is taken as a
/// directory. Pattern and path are normalised first ([`normalize_path`]): `./`, `//` and `/./`
/// are dropped and `a/../b` is resolved, so `./.ssh/x` or `x/../.ssh/x` cannot slip past a rule
/// for `.ssh`; a pattern that still climbs out of the repository (`../x`) matches nothing.
pub fn path_matches_case(pattern: &str, path: &str, ignore_case: bool) -> bool {
    let Some(pattern) = normalize_pattern(pattern) else {
        return false;
    };
    let Some(pattern) = Pattern::from_bytes_without_negation(pattern.as_bytes()) else {
        return false;
    };
    let Some(path) = normalize_path(path) else {
        return false;
    };
    let path = path.as_ref();
    if path.is_empty() {
        return false;
    }
    let case = if ignore_case { Case::Fold } else { Case::Sensitive };
    if matches_one(&pattern, path, path.ends_with('/'), case) {
        return true;
    }
    path.match_indices('/')
        .map(|(at, _)| &path[..at])
        .filter(|dir| !dir.is_empty() && !dir.ends_with('/'))
        .any(|dir| matches_one(&pattern, dir, true, case))
}

fn matches_one(pattern: &Pattern, path: &str, is_dir: bool, case: Case) -> bool {
    pattern.matches_repo_relative_path(
        path.into(),
        path.rfind('/').map(|p| p + 1),
        Some(is_dir),
        case,
        wildmatch::Mode::NO_MATCH_SLASH_LITERAL,
    )
}

/// A repository path in canonical form: leading `/` and `./` dropped, `//` and `/./` collapsed,
/// `dir/..` resolved; a trailing `/` (a directory) is kept. `None` when the path climbs above
/// the repository root. Borrowed when already canonical.
pub fn normalize_path(path: &str) -> Option<Cow<'_, str>> {
    let trimmed = path.trim_start_matches('/');
    let trailing = trimmed.ends_with('/');
    let needs_work = trimmed.contains("//") || trimmed.split('/').any(|c| c == "." || c == "..");
    if !needs_work {
        return Some(Cow::Borrowed(trimmed));
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in trimmed.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    let mut out = parts.join("/");
    if trailing && !out.is_empty() {
        out.push('/');
    }
    Some(Cow::Owned(out))
}

/// A path pattern in canonical form, as [`normalize_path`] does for paths but keeping one
/// leading `/` (it anchors the pattern at the root, as in `.gitignore`). `None` for a pattern
/// that climbs out of the repository.
pub fn normalize_pattern(pattern: &str) -> Option<Cow<'_, str>> {
    let anchored = pattern.starts_with('/') && !pattern.starts_with("//");
    match normalize_path(pattern)? {
        Cow::Borrowed(p) if anchored => Some(Cow::Borrowed(&pattern[..p.len() + 1])),
        Cow::Borrowed(p) if p.len() == pattern.len() => Some(Cow::Borrowed(p)),
        p if anchored || pattern.starts_with("//") => Some(Cow::Owned(format!("/{p}"))),
        p => Some(Cow::Owned(p.into_owned())),
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
    fn ignore_case_folds_pattern_and_path() {
        assert!(path_matches_case("**/.ssh/**", ".SSH/id_rsa", true));
        assert!(path_matches_case(
            ".github/workflows/**",
            ".GitHub/Workflows/ci.yml",
            true
        ));
        assert!(path_matches_case("Dockerfile*", "svc/DOCKERFILE", true));
        assert!(!path_matches_case("**/.ssh/**", ".SSH/id_rsa", false));
        assert!(!path_matches_case("**/.ssh/**", "ssh/id_rsa", true));
    }

    #[test]
    fn patterns_are_normalised_before_matching() {
        yes("./secret/**", "secret/a");
        yes("secret//**", "secret/a");
        yes("secret/./**", "secret/a");
        yes("x/../secret/**", "secret/a");
        no("./secret/**", "x/secret/a");
        no("../secret/**", "secret/a");
        yes("/secret", "secret/a");
        no("/secret", "x/secret/a");
        assert_eq!(normalize_pattern("./secret/**").as_deref(), Some("secret/**"));
        assert_eq!(normalize_pattern("secret//**").as_deref(), Some("secret/**"));
        assert_eq!(normalize_pattern("secret/./**").as_deref(), Some("secret/**"));
        assert_eq!(normalize_pattern("x/../secret/**").as_deref(), Some("secret/**"));
        assert_eq!(normalize_pattern("/secret/./x").as_deref(), Some("/secret/x"));
        assert_eq!(normalize_pattern("//secret").as_deref(), Some("/secret"));
        assert_eq!(normalize_pattern("build/").as_deref(), Some("build/"));
        assert_eq!(normalize_pattern("../x"), None);
        assert!(matches!(normalize_pattern("**/.ssh/**"), Some(Cow::Borrowed(_))));
        assert!(matches!(normalize_pattern("/x/y"), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn paths_are_normalised_before_matching() {
        yes(".github/workflows/**", "x/../.github/workflows/ci.yml");
        yes(".github/workflows/**", ".github//workflows/./ci.yml");
        no("**/.ssh/**", "../.ssh/id_rsa");
        assert_eq!(normalize_path("a//b/./c/../d/").as_deref(), Some("a/b/d/"));
        assert_eq!(normalize_path("a/.."), Some(Cow::Owned(String::new())));
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
