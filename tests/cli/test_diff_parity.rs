//! Diff statistics equal git's, byte for byte: `diff_stat.txt` is `git diff --numstat` then
//! `--shortstat` on the run's base and commit, the summary's diff stat is the shortstat, the
//! commit holds what `git add -A` would stage, and `diff.patch` applies to the base. One test
//! per class of difference (gitlinks, quoting, raw path bytes, git's rename scoring), random
//! changes, and a replay of a generated history through `benches/diff_replay.sh`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use serde_json::Value;

use crate::common::*;

/// Write `content` at the raw path `rel` (any bytes) under `dir`.
fn write_raw(dir: &Path, rel: &[u8], content: &[u8]) {
    let path = dir.join(OsStr::from_bytes(rel));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn commit_all(env: &TestEnv, repo: &Path, message: &str) -> String {
    env.git(repo, ["add", "-A"]);
    env.git(repo, ["commit", "-q", "--allow-empty", "-m", message]);
    env.git(repo, ["rev-parse", "HEAD"])
}

/// `n` distinct lines tagged `tag`, each about 40 bytes.
fn lines(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("{tag} line {i:03} with enough words to count\n"))
        .collect()
}

/// Run `script` with `sh -c` as the agent of a new run of `repo`. Before it exits, the script
/// records the tree `git add -A` would stage (on a copy of the index), for [`assert_parity`].
fn run_script(env: &TestEnv, repo: &Path, script: &str) -> Value {
    let n = std::fs::read_dir(env.root()).unwrap().count();
    let expected = env.root().join(format!("expected-tree-{n}"));
    let index = env.root().join(format!("expected-index-{n}"));
    let full = format!(
        "set -e\n{script}\ncp \"$(git rev-parse --git-path index)\" '{index}'\n\
         GIT_INDEX_FILE='{index}' git add -A 2>/dev/null\nGIT_INDEX_FILE='{index}' git write-tree > '{expected}'\n",
        index = index.display(),
        expected = expected.display()
    );
    let (run, mut doc) = env.run_json(
        repo,
        &[
            "--goal",
            "Make the change",
            "--branch",
            "oc/parity-{run}",
            "--backend",
            "command",
            "--",
            "sh",
            "-c",
            &full,
        ],
    );
    run.assert_code(0);
    doc["expected_tree"] = Value::from(std::fs::read_to_string(&expected).unwrap().trim().to_owned());
    doc
}

/// git's numstat then shortstat for `base..commit`, as `diff_stat.txt` holds them.
fn git_stat(env: &TestEnv, repo: &Path, base: &str, commit: &str) -> (Vec<u8>, String) {
    let numstat = env.git_output(repo, ["diff", "--numstat", base, commit]);
    let short = env.git_output(repo, ["diff", "--shortstat", base, commit]);
    assert!(numstat.status.success() && short.status.success());
    let mut out = numstat.stdout;
    if !short.stdout.is_empty() {
        out.push(b'\n');
        out.extend_from_slice(&short.stdout);
    }
    (out, String::from_utf8(short.stdout).unwrap().trim().to_owned())
}

/// git with a temporary index.
fn git_with_index(env: &TestEnv, repo: &Path, index: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    scrub(&mut cmd, &env.home());
    let out = cmd
        .current_dir(repo)
        .env("GIT_INDEX_FILE", index)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The run's numbers, snapshot and patch agree with git; returns git's numstat.
#[track_caller]
fn assert_parity(env: &TestEnv, repo: &Path, doc: &Value) -> String {
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let base = doc["git"]["base"].as_str().unwrap();
    let commit = doc["git"]["commit"].as_str().expect("a commit");
    let (theirs, short) = git_stat(env, repo, base, commit);
    let ours = env.evidence(repo, id, "diff_stat.txt");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "diff_stat.txt differs from git"
    );
    assert_eq!(ours, theirs, "diff_stat.txt bytes differ from git's");
    let short = (!short.is_empty()).then_some(short);
    assert_eq!(doc["summary"]["diff_stat"].as_str(), short.as_deref());
    assert_eq!(doc["result"]["diff_stat_excerpt"].as_str(), short.as_deref());
    assert_eq!(doc["git"]["diff"]["shortstat"].as_str(), short.as_deref());
    let summary = env.evidence_json(repo, id, "summary.json");
    assert_eq!(summary["diff_stat"].as_str(), short.as_deref());
    assert_eq!(
        env.git(repo, ["rev-parse", &format!("{commit}^{{tree}}")]),
        doc["expected_tree"].as_str().unwrap(),
        "the commit is not what `git add -A` stages"
    );
    // diff.patch applies to the base and gives the commit's tree.
    let patch = env.root().join(format!("{id}.patch"));
    std::fs::write(&patch, env.evidence(repo, id, "diff.patch")).unwrap();
    let index = env.root().join(format!("{id}.index"));
    git_with_index(env, repo, &index, &["read-tree", base]);
    git_with_index(
        env,
        repo,
        &index,
        &["apply", "--cached", "--binary", patch.to_str().unwrap()],
    );
    assert_eq!(
        git_with_index(env, repo, &index, &["write-tree"]),
        env.git(repo, ["rev-parse", &format!("{commit}^{{tree}}")])
    );
    String::from_utf8_lossy(&theirs).into_owned()
}

/// A repository to be a submodule, with three commits; returns it and the commits.
fn sub_repo(env: &TestEnv, name: &str) -> (PathBuf, Vec<String>) {
    let dir = env.repo(name);
    let mut commits = vec![env.git(&dir, ["rev-parse", "HEAD"])];
    for i in 1..3 {
        std::fs::write(dir.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        commits.push(commit_all(env, &dir, &format!("sub {i}")));
    }
    (dir, commits)
}

/// Record a gitlink at `path` in the index, with the empty directory of a submodule that is
/// not checked out (so that `git add -A` keeps it).
fn add_gitlink(env: &TestEnv, repo: &Path, path: &str, commit: &str) {
    std::fs::create_dir_all(repo.join(path)).unwrap();
    env.git(
        repo,
        [
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{commit},{path}"),
        ],
    );
}

#[test]
fn gitlinks_added_removed_changed_and_renamed_count_as_git_counts() {
    let env = TestEnv::new();
    let (sub, c) = sub_repo(&env, "sub");
    let repo = env.repo("r");
    for (path, commit) in [
        ("modules/changed", &c[0]),
        ("modules/moved", &c[1]),
        ("modules/removed", &c[0]),
        ("modules/staged", &c[0]),
    ] {
        add_gitlink(&env, &repo, path, commit);
    }
    env.git(&repo, ["commit", "-q", "-m", "submodules"]);
    let script = format!(
        "rmdir modules/changed && git clone -q '{sub}' modules/changed && git -C modules/changed checkout -q {c1}\n\
         mkdir vendor && git mv modules/moved vendor/moved\n\
         rmdir modules/removed\n\
         git update-index --cacheinfo 160000,{c2},modules/staged\n\
         git clone -q '{sub}' added && git -C added checkout -q {c2}\n",
        sub = sub.display(),
        c1 = c[1],
        c2 = c[2]
    );
    let doc = run_script(&env, &repo, &script);
    let numstat = assert_parity(&env, &repo, &doc);
    assert_eq!(
        numstat,
        "1\t0\tadded\n1\t1\tmodules/changed\n0\t1\tmodules/removed\n1\t1\tmodules/staged\n\
         0\t0\t{modules => vendor}/moved\n\n 5 files changed, 3 insertions(+), 3 deletions(-)\n"
    );
    let files = doc["git"]["diff"]["files"].as_array().unwrap();
    let moved = files.iter().find(|f| f["path"] == "vendor/moved").unwrap();
    assert_eq!(moved["change_type"], "renamed");
    assert_eq!(moved["old_path"], "modules/moved");
}

#[test]
fn a_run_that_only_moves_a_submodule_pointer_is_executed() {
    let env = TestEnv::new();
    let (sub, c) = sub_repo(&env, "sub");
    let repo = env.repo("r");
    add_gitlink(&env, &repo, "lib", &c[0]);
    env.git(&repo, ["commit", "-q", "-m", "submodule"]);
    // The agent checks the submodule out and moves it to another commit, staging nothing.
    let script = format!(
        "rmdir lib && git clone -q '{}' lib && git -C lib checkout -q {}",
        sub.display(),
        c[2]
    );
    let doc = run_script(&env, &repo, &script);
    assert_eq!(doc["summary"]["outcome_status"], "executed");
    assert_eq!(
        doc["summary"]["diff_stat"],
        "1 file changed, 1 insertion(+), 1 deletion(-)"
    );
    assert_eq!(doc["summary"]["changed_files"], 1);
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["ls-tree", commit, "lib"]),
        format!("160000 commit {}\tlib", c[2])
    );
    assert_parity(&env, &repo, &doc);
    let patch = env.evidence(&repo, doc["summary"]["run_id"].as_str().unwrap(), "diff.patch");
    assert!(String::from_utf8_lossy(&patch).contains(&format!("+Subproject commit {}", c[2])));
}

#[test]
fn nested_repositories_enter_as_gitlinks_unless_nothing_is_checked_out() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let script = "git init -q deep/er/nested && (cd deep/er/nested && echo n > n && git add n && \
                  git -c user.name=a -c user.email=a@x commit -q -m n)\nprintf 'x\\n' > plain.txt";
    let doc = run_script(&env, &repo, script);
    assert_eq!(
        assert_parity(&env, &repo, &doc),
        "1\t0\tdeep/er/nested\n1\t0\tplain.txt\n\n 2 files changed, 2 insertions(+)\n"
    );
    // A repository without a commit cannot be a gitlink: git add -A refuses, git-oc leaves it
    // out and records the rest.
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Empty nested",
            "--backend",
            "command",
            "--",
            "sh",
            "-c",
            "git init -q empty && printf 'y\\n' > other.txt",
        ],
    );
    run.assert_code(0);
    let commit = doc["git"]["commit"].as_str().unwrap();
    let base = doc["git"]["base"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["diff", "--name-only", base, commit]), "other.txt");
    assert_eq!(doc["summary"]["diff_stat"], "1 file changed, 1 insertion(+)");
}

/// Names git quotes: `"`, `\`, control characters, a newline, UTF-8 and DEL.
const ODD_NAMES: [&[u8]; 8] = [
    b"plain name.txt",
    b"say \"hi\".txt",
    b"back\\slash.txt",
    b"tab\there.txt",
    b"new\nline.txt",
    b"bell\x07\x01.txt",
    "caf\u{e9}/na\u{ef}ve.txt".as_bytes(),
    b"del\x7f.txt",
];

fn odd_names_repo(env: &TestEnv, name: &str, names: &[&[u8]]) -> PathBuf {
    let repo = env.repo(name);
    for (i, n) in names.iter().enumerate() {
        write_raw(&repo, n, lines(10 + i, &format!("file{i}")).as_bytes());
    }
    commit_all(env, &repo, "odd names");
    repo
}

/// Modify the first name, rename the others to `moved/<name>` with an edit, add one.
fn odd_names_script(names: &[&[u8]]) -> String {
    let sh = |b: &[u8]| {
        // printf-ready octal, so the script stays ASCII.
        b.iter().map(|c| format!("\\{c:03o}")).collect::<String>()
    };
    let mut script = String::from("mkdir -p moved\n");
    for (i, n) in names.iter().enumerate() {
        let name = sh(n);
        if i == 0 {
            script.push_str(&format!("f=\"$(printf '{name}')\"; printf 'more\\n' >> \"$f\"\n"));
        } else {
            script.push_str(&format!(
                "f=\"$(printf '{name}')\"; printf 'edited\\n' >> \"$f\"; mv \"$f\" \"moved/$(basename \"$f\")x\"\n"
            ));
        }
    }
    script.push_str(&format!(
        "printf 'new\\n' > \"$(printf '{}')\"\n",
        sh(b"added \"q\"\\\t.txt")
    ));
    script
}

#[test]
fn quoted_names_match_git_with_core_quotepath_on_and_off() {
    let env = TestEnv::new();
    for quotepath in ["true", "false"] {
        let repo = odd_names_repo(&env, &format!("r-{quotepath}"), &ODD_NAMES);
        env.git(&repo, ["config", "core.quotepath", quotepath]);
        let doc = run_script(&env, &repo, &odd_names_script(&ODD_NAMES));
        let numstat = assert_parity(&env, &repo, &doc);
        assert!(
            numstat.contains(r#""say \"hi\".txt" => "moved/say \"hi\".txtx""#),
            "{numstat}"
        );
        assert!(
            numstat.contains(r#""new\nline.txt" => "moved/new\nline.txtx""#),
            "{numstat}"
        );
        if quotepath == "true" {
            assert!(numstat.contains(r#""caf\303\251/na\303\257ve.txt""#), "{numstat}");
        } else {
            assert!(
                numstat.contains("caf\u{e9}/na\u{ef}ve.txt => moved/na\u{ef}ve.txtx"),
                "{numstat}"
            );
        }
        let paths: Vec<&str> = doc["git"]["diff"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"moved/new\nline.txtx"),
            "JSON keeps the real name: {paths:?}"
        );
    }
}

#[test]
fn non_utf8_names_are_raw_bytes_or_octal_escapes() {
    let env = TestEnv::new();
    let names: [&[u8]; 4] = [
        b"latin1-caf\xe9.txt",
        b"dir\xff/file.txt",
        b"raw\x80\xfe.bin",
        b"ok.txt",
    ];
    for quotepath in ["true", "false"] {
        let repo = odd_names_repo(&env, &format!("r-{quotepath}"), &names);
        env.git(&repo, ["config", "core.quotepath", quotepath]);
        let doc = run_script(&env, &repo, &odd_names_script(&names));
        let id = doc["summary"]["run_id"].as_str().unwrap();
        assert_parity(&env, &repo, &doc);
        let stat = env.evidence(&repo, id, "diff_stat.txt");
        let has = |needle: &[u8]| stat.windows(needle.len()).any(|w| w == needle);
        if quotepath == "true" {
            assert!(has(br#""latin1-caf\351.txt""#), "{}", String::from_utf8_lossy(&stat));
        } else {
            assert!(
                has(b"latin1-caf\xe9.txt"),
                "raw bytes: {}",
                String::from_utf8_lossy(&stat)
            );
        }
        // JSON cannot hold the bytes: the names are made valid UTF-8 there.
        let files = doc["git"]["diff"]["files"].to_string();
        assert!(files.contains("latin1-caf\u{fffd}.txt"), "{files}");
    }
}

#[test]
fn renames_git_scores_between_50_and_75_percent() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // 20 lines each; keeping k of them gives git's score of about k/20. Half of the files
    // also have their lines reversed, which git's chunk hashing does not mind.
    let keeps = [9, 10, 11, 12, 13, 14, 15, 16];
    for k in keeps {
        for kind in ["kept", "reversed"] {
            write_raw(
                &repo,
                format!("src/{kind}{k}.txt").as_bytes(),
                lines(20, &format!("{kind}{k}")).as_bytes(),
            );
        }
    }
    commit_all(&env, &repo, "files");
    let mut script = String::from("mkdir -p dst\n");
    for k in keeps {
        for kind in ["kept", "reversed"] {
            let order = if kind == "reversed" { "sort -r" } else { "cat" };
            script.push_str(&format!(
                "{{ head -n {k} src/{kind}{k}.txt; for i in $(seq {k} 19); do \
                 echo \"new {kind}{k} line $i with enough words to count!!\"; done; }} | {order} > dst/moved-{kind}{k}.txt\n\
                 rm src/{kind}{k}.txt\n"
            ));
        }
    }
    let doc = run_script(&env, &repo, &script);
    let numstat = assert_parity(&env, &repo, &doc);
    assert!(numstat.contains("src/kept16.txt => dst/moved-kept16.txt"), "{numstat}");
    assert!(
        numstat.contains("src/reversed14.txt => dst/moved-reversed14.txt"),
        "{numstat}"
    );
    assert!(!numstat.contains("src/kept9.txt =>"), "{numstat}");
}

#[test]
fn reordered_lines_are_still_a_rename() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_raw(&repo, b"a/list.txt", lines(30, "entry").as_bytes());
    write_raw(&repo, b"a/other.txt", lines(30, "other").as_bytes());
    commit_all(&env, &repo, "lists");
    let doc = run_script(
        &env,
        &repo,
        "mkdir b && sort -r a/list.txt > b/sorted.txt && rm a/list.txt\n\
         awk 'NR % 2 == 0' a/other.txt > b/other.txt && awk 'NR % 2 == 1' a/other.txt >> b/other.txt && rm a/other.txt",
    );
    let numstat = assert_parity(&env, &repo, &doc);
    assert!(numstat.contains("a/list.txt => b/sorted.txt"), "{numstat}");
    assert!(numstat.contains("{a => b}/other.txt"), "{numstat}");
}

#[test]
fn crlf_files_moved_to_another_directory_pair_as_in_git() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // 32 files sharing a CRLF licence header, each with a little of its own.
    let header = lines(12, "// Copyright and licence header").replace('\n', "\r\n");
    for i in 0..32 {
        let own = lines(3, &format!("class C{i}")).replace('\n', "\r\n");
        write_raw(
            &repo,
            format!("Old/Src/C{i}.cs").as_bytes(),
            format!("{header}{own}").as_bytes(),
        );
    }
    commit_all(&env, &repo, "crlf files");
    // Moved and renamed; every third also edited, every fourth converted to LF.
    let script = "mkdir -p New/Code\n\
                  for i in $(seq 0 31); do\n\
                    f=Old/Src/C$i.cs; t=New/Code/Class$i.cs\n\
                    if [ $((i % 4)) = 0 ]; then tr -d '\\r' < $f > $t; else cp $f $t; fi\n\
                    if [ $((i % 3)) = 0 ]; then printf 'edited\\r\\n' >> $t; fi\n\
                    rm $f\n\
                  done";
    let doc = run_script(&env, &repo, script);
    let numstat = assert_parity(&env, &repo, &doc);
    assert_eq!(numstat.matches(" => ").count(), 32, "{numstat}");
}

#[test]
fn near_identical_small_files_pair_as_in_git() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for i in 0..6 {
        write_raw(
            &repo,
            format!("old/f{i}.txt").as_bytes(),
            format!("alpha\nbeta\ngamma\nv{i}\n").as_bytes(),
        );
    }
    commit_all(&env, &repo, "small files");
    // Every new file is over 50% like every old one; git pairs each with its best match.
    let script = "mkdir new\n\
                  printf 'alpha\\nbeta\\ngamma\\nv5\\nw\\n' > new/a.txt\n\
                  printf 'alpha\\nbeta\\ngamma\\nv4\\nx\\n' > new/b.txt\n\
                  printf 'alpha\\nbeta\\ngamma\\nv3\\nyy\\n' > new/c.txt\n\
                  printf 'alpha\\nbeta\\ngamma\\nv9\\n' > new/f2.txt\n\
                  printf 'gamma\\nbeta\\nalpha\\nv1\\n' > new/e.txt\n\
                  rm old/*.txt";
    let doc = run_script(&env, &repo, script);
    let numstat = assert_parity(&env, &repo, &doc);
    assert!(numstat.contains("old/f5.txt => new/a.txt"), "{numstat}");
}

#[test]
fn rename_limit_exceeded_keeps_exact_and_basename_renames_only() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.git(&repo, ["config", "diff.renameLimit", "2"]);
    for name in ["x", "y", "z", "exact", "same"] {
        write_raw(&repo, format!("a/{name}.txt").as_bytes(), lines(20, name).as_bytes());
    }
    commit_all(&env, &repo, "files");
    let script = "mkdir b\n\
                  for n in x y z; do cp a/$n.txt b/$n-renamed.txt; echo more >> b/$n-renamed.txt; rm a/$n.txt; done\n\
                  mv a/exact.txt b/exact-moved.txt\n\
                  cp a/same.txt b/same.txt; echo more >> b/same.txt; rm a/same.txt";
    let doc = run_script(&env, &repo, script);
    let numstat = assert_parity(&env, &repo, &doc);
    assert!(numstat.contains("a/exact.txt => b/exact-moved.txt"), "{numstat}");
    assert!(numstat.contains("{a => b}/same.txt"), "{numstat}");
    assert!(!numstat.contains("a/x.txt =>"), "over the limit: {numstat}");
}

#[test]
fn diff_renames_false_and_copies_are_honoured() {
    let env = TestEnv::new();
    for (setting, expect) in [("false", "0\t20\ta/r.txt"), ("copies", "a/c.txt => b/copy.txt")] {
        let repo = env.repo(&format!("r-{setting}"));
        env.git(&repo, ["config", "diff.renames", setting]);
        write_raw(&repo, b"a/r.txt", lines(20, "r").as_bytes());
        write_raw(&repo, b"a/c.txt", lines(20, "c").as_bytes());
        commit_all(&env, &repo, "files");
        let doc = run_script(
            &env,
            &repo,
            "mkdir b && git mv a/r.txt b/r.txt && cp a/c.txt b/copy.txt && echo more >> a/c.txt",
        );
        let numstat = assert_parity(&env, &repo, &doc);
        assert!(numstat.contains(expect), "diff.renames={setting}: {numstat}");
        if setting == "copies" {
            let files = doc["git"]["diff"]["files"].as_array().unwrap();
            let copy = files.iter().find(|f| f["path"] == "b/copy.txt").unwrap();
            assert_eq!(copy["change_type"], "copied");
        }
    }
}

#[test]
fn binary_patch_ignores_user_diff_settings() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_raw(&repo, b"text.txt", lines(30, "t").as_bytes());
    write_raw(&repo, b"blob.bin", b"bin\0ary\n");
    add_gitlink(&env, &repo, "sub", "1111111111111111111111111111111111111111");
    let base = commit_all(&env, &repo, "base");
    write_raw(
        &repo,
        b"text.txt",
        lines(30, "t").replace("t line 010", "changed").as_bytes(),
    );
    write_raw(&repo, b"blob.bin", b"bin\0ary\nmore\0");
    write_raw(&repo, b"dir/new.txt", b"new\n");
    add_gitlink(&env, &repo, "sub", "2222222222222222222222222222222222222222");
    let commit = commit_all(&env, &repo, "change");
    // Everything that would make `git diff` print something `git apply` cannot take.
    std::fs::write(repo.join(".gitattributes"), "*.txt diff=odd\n").unwrap();
    for (key, value) in [
        ("diff.noprefix", "true"),
        ("diff.mnemonicPrefix", "true"),
        ("diff.external", "false"),
        ("diff.odd.textconv", "tr a-z A-Z <"),
        ("diff.odd.command", "false"),
        ("diff.context", "0"),
        ("diff.submodule", "log"),
        ("diff.ignoreSubmodules", "all"),
        ("diff.relative", "true"),
        ("diff.suppressBlankEmpty", "true"),
        ("color.ui", "always"),
        ("color.diff", "always"),
    ] {
        env.git(&repo, ["config", key, value]);
    }
    let hex = |s: &str| gix::ObjectId::from_hex(s.as_bytes()).unwrap();
    let patch = git_oc::git::diff::binary_patch(&repo, Some(hex(&base)), hex(&commit), gix::hash::Kind::Sha1).unwrap();
    let text = String::from_utf8_lossy(&patch);
    assert!(text.contains("diff --git a/text.txt b/text.txt"), "{text}");
    assert!(text.contains("GIT binary patch"), "{text}");
    assert!(
        text.contains("+Subproject commit 2222222222222222222222222222222222222222"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour: {text}");
    let file = env.root().join("p.patch");
    std::fs::write(&file, &patch).unwrap();
    let index = env.root().join("p.index");
    git_with_index(&env, &repo, &index, &["read-tree", &base]);
    git_with_index(&env, &repo, &index, &["apply", "--cached", file.to_str().unwrap()]);
    assert_eq!(
        git_with_index(&env, &repo, &index, &["write-tree"]),
        env.git(&repo, ["rev-parse", &format!("{commit}^{{tree}}")])
    );
    // From the empty tree.
    let root = git_oc::git::diff::binary_patch(&repo, None, hex(&base), gix::hash::Kind::Sha1).unwrap();
    assert!(String::from_utf8_lossy(&root).contains("new file mode 100644"));
}

/// Write a tree object from raw `(mode, name, id)` entries as old tools wrote them (zero-padded
/// `040000`, group-writable `100664`), which git itself never writes; returns its id.
fn raw_tree(env: &TestEnv, repo: &Path, entries: &[(&str, &str, &str)]) -> String {
    let mut bytes = Vec::new();
    for (mode, name, id) in entries {
        bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        bytes.extend_from_slice(gix::ObjectId::from_hex(id.as_bytes()).unwrap().as_bytes());
    }
    let n = std::fs::read_dir(env.root()).unwrap().count();
    let file = env.root().join(format!("raw-tree-{n}"));
    std::fs::write(&file, bytes).unwrap();
    env.git(
        repo,
        ["hash-object", "-t", "tree", "--literally", "-w", file.to_str().unwrap()],
    )
}

/// Old histories hold trees with modes git no longer writes (`040000`, `100664`). A run's tree
/// is what `git add -A && git write-tree` gives with the index's cache of trees valid (as in a
/// checkout people work in): each tree the change rewrites lists its entries in git's
/// canonical modes, the directories it leaves alone keep their ids, and nothing counts as
/// changed that git does not count.
#[test]
fn trees_from_old_histories_are_rewritten_in_git_canonical_modes() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let blob = |content: &str| {
        let file = env.root().join("blob");
        std::fs::write(&file, content).unwrap();
        env.git(&repo, ["hash-object", "-w", file.to_str().unwrap()])
    };
    let (a, b, c, top) = (blob("a\n"), blob("b\n"), blob("c\n"), blob("top\n"));
    let deeper = raw_tree(&env, &repo, &[("100644", "c.txt", &c)]);
    let untouched = raw_tree(&env, &repo, &[("100664", "b.txt", &b), ("040000", "deeper", &deeper)]);
    let sub = raw_tree(&env, &repo, &[("100644", "a.txt", &a), ("040000", "deeper", &deeper)]);
    let root = raw_tree(
        &env,
        &repo,
        &[
            ("100664", "old.txt", &b),
            ("040000", "sub", &sub),
            ("100644", "top.txt", &top),
            ("040000", "untouched", &untouched),
        ],
    );
    let head = env.git(&repo, ["rev-parse", "HEAD"]);
    let base = env.git(&repo, ["commit-tree", &root, "-p", &head, "-m", "from an old tool"]);
    env.git(&repo, ["reset", "-q", "--hard", &base]);
    assert_eq!(env.git(&repo, ["status", "--porcelain"]), "");

    let mut doc = run_script(&env, &repo, "echo more >> top.txt && echo more >> sub/a.txt");
    // git's tree with the cache of trees primed from the base (`read-tree`), the two files
    // staged by id: nothing depends on file times.
    let commit = doc["git"]["commit"].as_str().unwrap().to_owned();
    let index = env.root().join("primed.index");
    git_with_index(&env, &repo, &index, &["read-tree", &base]);
    for path in ["top.txt", "sub/a.txt"] {
        let id = env.git(&repo, ["rev-parse", &format!("{commit}:{path}")]);
        git_with_index(
            &env,
            &repo,
            &index,
            &["update-index", "--cacheinfo", &format!("100644,{id},{path}")],
        );
    }
    doc["expected_tree"] = Value::from(git_with_index(&env, &repo, &index, &["write-tree"]));
    let numstat = assert_parity(&env, &repo, &doc);
    assert_eq!(
        numstat,
        "1\t0\tsub/a.txt\n1\t0\ttop.txt\n\n 2 files changed, 2 insertions(+)\n"
    );
    let listing = env.git(&repo, ["ls-tree", &commit]);
    assert!(listing.contains(&format!("100644 blob {b}\told.txt")), "{listing}");
    assert!(
        listing.contains(&format!("040000 tree {untouched}\tuntouched")),
        "{listing}"
    );
    for tree in [format!("{commit}^{{tree}}"), format!("{commit}:sub")] {
        let raw = env.git_output(&repo, ["cat-file", "tree", &tree]).stdout;
        assert!(
            !raw.windows(7).any(|w| w == b"040000 "),
            "{tree} is rewritten in canonical modes"
        );
    }
}

/// A history with every class in it, replayed commit by commit through `git oc run` by the
/// same script used on real repositories.
#[test]
fn replay_of_a_generated_history_matches_git() {
    let env = TestEnv::new();
    let repo = env.repo("history");
    let step = |script: &str, message: &str| {
        let out = {
            let mut cmd = Command::new("sh");
            scrub(&mut cmd, &env.home());
            cmd.current_dir(&repo).args(["-c", script]).output().unwrap()
        };
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        commit_all(&env, &repo, message);
    };
    step(
        "mkdir -p src docs && for i in $(seq 1 40); do echo \"line $i of the main source file\" >> src/main.c; done\n\
         printf 'a\\r\\nb\\r\\nc\\r\\n' > docs/crlf.txt && printf 'bin\\000ary' > logo.bin",
        "files",
    );
    step(
        "mkdir -p modules/onig && git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,modules/onig",
        "submodule",
    );
    step(
        "mkdir -p lib && sed 's/line 3 /LINE 3 /' src/main.c > lib/core.c && rm src/main.c && printf 'bin\\000ary2' > logo.bin",
        "rename with edits",
    );
    step(
        "git update-index --cacheinfo 160000,2222222222222222222222222222222222222222,modules/onig",
        "bump",
    );
    step(
        "mkdir -p vendor && git mv modules/onig vendor/onig && mkdir -p docs2 && git mv docs/crlf.txt docs2/crlf.txt",
        "move submodule and crlf file",
    );
    step(
        "printf 'x\\n' > \"$(printf 'we\\\"ird\\tname')\" && printf 'y\\n' > \"$(printf 'caf\\351')\" && chmod +x lib/core.c",
        "odd names and a mode change",
    );
    step(
        "ln -s lib/core.c link && git rm -q --cached vendor/onig",
        "symlink, submodule gone",
    );
    step(
        "mv \"$(printf 'caf\\351')\" \"$(printf 'caf\\351-moved')\" && rm logo.bin",
        "rename an odd name",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/diff_replay.sh");
    let mut cmd = Command::new("bash");
    scrub(&mut cmd, &env.home());
    let out = cmd
        .arg(&script)
        .args(["--oc", BIN])
        .arg(&repo)
        .arg("20")
        .env("TMPDIR", env.root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("replayed 8 of 8 commits") && stdout.contains("stats agree 8/8, trees 8/8, patches 8/8"),
        "{stdout}"
    );
}

/// Random changes for the property test.
#[derive(Clone, Debug)]
enum Op {
    /// Replace about `pct`% of a file's lines.
    Edit(usize, u8),
    /// Move a file to another name (maybe another directory), replacing `pct`% of its lines.
    Rename(usize, usize, u8),
    Reorder(usize),
    ToggleCrlf(usize),
    Delete(usize),
    Copy(usize, usize),
    Binary(usize),
    Chmod(usize),
    Symlink(usize, usize),
    /// 0: move the submodule to its next commit, 1: remove it, 2: move it to another path,
    /// 3: add a nested repository.
    Gitlink(u8),
}

/// Path names the property test picks from.
const NAMES: [&[u8]; 12] = [
    b"a.txt",
    b"src/lib.rs",
    b"src/deep/mod.rs",
    b"docs/read me.md",
    b"q\"uote.txt",
    b"back\\slash",
    b"tab\tname",
    b"new\nline",
    "\u{e9}t\u{e9}/caf\u{e9}.txt".as_bytes(),
    b"raw\xff.txt",
    b"other/a.txt",
    b"z-last",
];

fn op() -> impl Strategy<Value = Op> {
    let file = 0..NAMES.len();
    prop_oneof![
        (file.clone(), 0u8..100).prop_map(|(f, p)| Op::Edit(f, p)),
        (file.clone(), file.clone(), 0u8..70).prop_map(|(f, t, p)| Op::Rename(f, t, p)),
        file.clone().prop_map(Op::Reorder),
        file.clone().prop_map(Op::ToggleCrlf),
        file.clone().prop_map(Op::Delete),
        (file.clone(), file.clone()).prop_map(|(f, t)| Op::Copy(f, t)),
        file.clone().prop_map(Op::Binary),
        file.clone().prop_map(Op::Chmod),
        (file.clone(), file).prop_map(|(f, t)| Op::Symlink(f, t)),
        (0u8..4).prop_map(Op::Gitlink),
    ]
}

/// What a path holds in the model of the worktree.
#[derive(Clone, Debug)]
enum Node {
    File { data: Vec<u8>, exec: bool },
    Link(Vec<u8>),
}

fn random_lines(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = Vec::new();
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("word {} and {}\n", x >> 50, (x >> 20) & 0xff).as_bytes());
    }
    out
}

/// Apply `ops` to `files` (path -> node); paths that would clash with a directory are skipped.
fn apply_ops(files: &mut std::collections::BTreeMap<Vec<u8>, Node>, ops: &[Op], seed: u64) {
    let clashes = |files: &std::collections::BTreeMap<Vec<u8>, Node>, path: &[u8]| {
        files.keys().any(|k| {
            k != path
                && ((k.starts_with(path) && k.get(path.len()) == Some(&b'/'))
                    || (path.starts_with(k) && path.get(k.len()) == Some(&b'/')))
        })
    };
    let edit = |data: &[u8], pct: u8, salt: u64| -> Vec<u8> {
        let fresh = random_lines(salt, 64);
        let fresh: Vec<&[u8]> = fresh.split_inclusive(|&b| b == b'\n').collect();
        data.split_inclusive(|&b| b == b'\n')
            .enumerate()
            .flat_map(|(i, l)| {
                if (i as u64 * 37 + salt) % 100 < u64::from(pct) {
                    fresh[i % fresh.len()].to_vec()
                } else {
                    l.to_vec()
                }
            })
            .collect()
    };
    for (n, op) in ops.iter().enumerate() {
        let salt = seed ^ ((n as u64 + 1) * 7919);
        let name = |i: usize| NAMES[i].to_vec();
        match *op {
            Op::Edit(f, pct) => {
                if let Some(Node::File { data, .. }) = files.get_mut(&name(f)) {
                    *data = edit(data, pct.max(1), salt);
                }
            }
            Op::Rename(f, t, pct) => {
                if f != t
                    && !files.contains_key(&name(t))
                    && !clashes(files, &name(t))
                    && let Some(mut node) = files.remove(&name(f))
                {
                    if let Node::File { data, .. } = &mut node {
                        *data = edit(data, pct, salt);
                    }
                    files.insert(name(t), node);
                }
            }
            Op::Reorder(f) => {
                if let Some(Node::File { data, .. }) = files.get_mut(&name(f)) {
                    let mut l: Vec<Vec<u8>> = data.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                    l.reverse();
                    *data = l.concat();
                }
            }
            Op::ToggleCrlf(f) => {
                if let Some(Node::File { data, .. }) = files.get_mut(&name(f)) {
                    *data = if data.windows(2).any(|w| w == b"\r\n") {
                        data.iter().copied().filter(|&b| b != b'\r').collect()
                    } else {
                        data.iter()
                            .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
                            .collect()
                    };
                }
            }
            Op::Delete(f) => {
                files.remove(&name(f));
            }
            Op::Copy(f, t) => {
                if f != t
                    && !files.contains_key(&name(t))
                    && !clashes(files, &name(t))
                    && let Some(node) = files.get(&name(f)).cloned()
                {
                    files.insert(name(t), node);
                }
            }
            Op::Binary(f) => {
                if !clashes(files, &name(f)) {
                    let mut data = random_lines(salt, 8);
                    data.insert(5, 0);
                    files.insert(name(f), Node::File { data, exec: false });
                }
            }
            Op::Chmod(f) => {
                if let Some(Node::File { exec, .. }) = files.get_mut(&name(f)) {
                    *exec = !*exec;
                }
            }
            Op::Symlink(f, t) => {
                if !clashes(files, &name(f)) {
                    files.insert(name(f), Node::Link(name(t)));
                }
            }
            Op::Gitlink(_) => {}
        }
    }
}

fn materialize(dir: &Path, files: &std::collections::BTreeMap<Vec<u8>, Node>) {
    use std::os::unix::fs::PermissionsExt;
    for (path, node) in files {
        let full = dir.join(OsStr::from_bytes(path));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        match node {
            Node::File { data, exec } => {
                std::fs::write(&full, data).unwrap();
                let mode = if *exec { 0o755 } else { 0o644 };
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            Node::Link(target) => std::os::unix::fs::symlink(OsStr::from_bytes(target), &full).unwrap(),
        }
    }
}

fn random_case(ops: &[Op], base_files: usize, seed: u64) {
    let env = TestEnv::new();
    let (sub, c) = sub_repo(&env, "sub");
    let repo = env.repo("r");
    let mut files = std::collections::BTreeMap::new();
    for (i, name) in NAMES.iter().enumerate().take(base_files) {
        files.insert(
            name.to_vec(),
            Node::File {
                data: random_lines(seed + i as u64, 8 + i * 3),
                exec: false,
            },
        );
    }
    materialize(&repo, &files);
    add_gitlink(&env, &repo, "ext/sub", &c[0]);
    commit_all(&env, &repo, "base");
    apply_ops(&mut files, ops, seed);
    let target = env.root().join("target");
    std::fs::create_dir_all(&target).unwrap();
    materialize(&target, &files);
    // Gitlinks: the unchecked-out submodule is an empty directory, as in the run's worktree.
    let gitlink_ops: Vec<u8> = ops
        .iter()
        .filter_map(|o| if let Op::Gitlink(g) = o { Some(*g) } else { None })
        .collect();
    let clone_at = |path: &str, commit: &str| {
        let dest = target.join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        env.git(
            env.root(),
            ["clone", "-q", sub.to_str().unwrap(), dest.to_str().unwrap()],
        );
        env.git(&dest, ["checkout", "-q", commit]);
    };
    match gitlink_ops.last() {
        None => std::fs::create_dir_all(target.join("ext/sub")).unwrap(),
        Some(0) => clone_at("ext/sub", &c[1]),
        Some(1) => {}
        Some(2) => clone_at("vendor/sub", &c[0]),
        Some(_) => {
            std::fs::create_dir_all(target.join("ext/sub")).unwrap();
            clone_at("nested/repo", &c[2]);
        }
    }
    let script = format!(
        "find . -mindepth 1 -maxdepth 1 ! -name .git ! -name .operations_center -exec rm -rf {{}} +\n\
         cp -a '{}'/. .",
        target.display()
    );
    let doc = run_script(&env, &repo, &script);
    if doc["git"]["commit"].is_null() {
        assert_eq!(doc["summary"]["outcome_status"], "no_op");
        return;
    }
    assert_parity(&env, &repo, &doc);
}

proptest! {
    // Each case is a whole run: a few are enough for CI; PROPTEST_CASES=500 for a long hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_changes_match_git(ops in prop::collection::vec(op(), 1..8), base_files in 4usize..12, seed in 0u64..1000) {
        random_case(&ops, base_files, seed);
    }
}
