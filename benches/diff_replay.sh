#!/usr/bin/env bash
# Replay real commits through `git oc run` and compare its diff statistics with git's.
#
#   benches/diff_replay.sh [--oc PATH] [--interesting] [--config KEY=VALUE]... REPO [COUNT] [REV]
#
# In a scratch clone of REPO, for COUNT non-merge commits C of REV (default HEAD; evenly spread
# over its history, or with --interesting those whose diff has rename candidates, submodules,
# symlinks, mode changes or quoted names first), `git oc run --base C^` runs an agent that
# turns the worktree into C's tree (`git read-tree -u --reset C`). With R the run's commit:
#   stats  the run's diff_stat.txt equals `git diff --numstat C^ R` then `--shortstat`, byte
#          for byte, and summary.json's diff_stat equals the shortstat
#   tree   R's tree is C's tree
#   patch  diff.patch, applied with `git apply --cached` on C^, gives R's tree (counted apart
#          where the change has a credential: the patch says [REDACTED:<kind>], or is withheld
#          when the gate rejected a change that adds one)
# A commit that changes nothing agrees when its run has nothing to commit (`no_op`).
# Each --config is set in the scratch clone (e.g. core.quotepath=false, diff.renames=copies).
# Prints the agreement counts and every mismatch; exits 1 when anything disagrees.
set -uo pipefail

oc=git-oc
interesting=0
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --oc) oc=$2; shift 2 ;;
    --interesting) interesting=1; shift ;;
    --config) configs+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
# A path given relative to here still names the binary once the script works in its scratch clone.
case "$oc" in
  /*) ;;
  */*) oc="$(cd "$(dirname "$oc")" && pwd)/$(basename "$oc")" ;;
esac
[ $# -ge 1 ] || { echo "usage: $0 [--oc PATH] [--interesting] [--config K=V]... REPO [COUNT] [REV]" >&2; exit 2; }
repo=$1
count=${2:-50}
rev=${3:-HEAD}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/diff-replay.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
work=$scratch/repo
die() { echo "diff_replay: $*" >&2; exit 2; }
git clone -q --no-checkout "$repo" "$work" || die "cannot clone $repo"
cd "$work" || die "no clone"
# A snapshot may lack its largest blobs: then the scratch checkout stays empty (runs branch
# from their own base) and commits that need a missing blob are skipped.
git rev-list --objects --all --missing=print 2>/dev/null | sed -n 's/^?//p' > "$scratch/missing"
git checkout -q --detach "$rev" 2>/dev/null || git update-ref --no-deref HEAD "$(git rev-parse "$rev^{commit}")" ||
  die "cannot check out $rev"
for kv in ${configs[@]+"${configs[@]}"}; do
  git config "${kv%%=*}" "${kv#*=}" || die "cannot set $kv"
done
# git's own output, whatever the user configured for display.
g() { git --no-pager -c color.ui=never "$@"; }

# The sample: non-merge commits with a parent, oldest first.
git rev-list --no-merges --min-parents=1 --reverse "$rev" > "$scratch/all"
total=$(wc -l < "$scratch/all")
if [ "$interesting" = 1 ]; then
  # Commits with a gitlink, a symlink, a mode change or a quoted name, or with both deletions and
  # additions (rename candidates); then the rest. Raw output reads no blob, so a snapshot with
  # missing blobs does not stop the walk.
  g log --no-merges --min-parents=1 --format='@%H' --raw --no-renames "$rev" |
    awk 'function flush() { if (c != "" && (hit || (del && add))) print c }
         /^@/ { flush(); c = substr($0, 2); hit = del = add = 0; next }
         /^:/ { split($0, f, /[ \t]/); m1 = substr(f[1], 2); m2 = f[2]; st = f[5]
                if (m1 ~ /^1[26]0000$/ || m2 ~ /^1[26]0000$/ || (m1 != "000000" && m2 != "000000" && m1 != m2) || $0 ~ /"/) hit = 1
                if (st == "D") del = 1; if (st == "A") add = 1 }
         END { flush() }' > "$scratch/sample" || true
else
  awk -v n="$count" -v t="$total" 'BEGIN { step = (t > n && n > 0) ? t / n : 1 }
       { if (NR - 1 >= next_pick) { print; next_pick += step } }' "$scratch/all" > "$scratch/sample"
fi
grep -vxF -f "$scratch/sample" "$scratch/all" >> "$scratch/sample" || true

n=0 stats=0 trees=0 patches=0 redacted=0 skipped=0
mismatches=()
while [ "$n" -lt "$count" ] && read -r c; do
  p=$(git rev-parse "$c^")
  if [ -s "$scratch/missing" ] && { git ls-tree -r "$p"; git ls-tree -r "$c"; } | grep -F -f "$scratch/missing" >/dev/null; then
    skipped=$((skipped + 1))
    continue
  fi
  n=$((n + 1))
  json=$("$oc" run --json --quiet --goal "replay $c" --base "$p" --branch "oc/replay-{run}" \
    --backend command -- git read-tree -u --reset "$c" 2>"$scratch/stderr" || true)
  id=$(printf '%s' "$json" | sed -n 's/.*"run_id": *"\([0-9a-f-]*\)".*/\1/p' | head -n 1)
  r=$(printf '%s' "$json" | sed -n 's/.*"commit": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)
  wt=$(printf '%s' "$json" | sed -n 's/.*"worktree": *"\([^"]*\)".*/\1/p' | head -n 1)
  branch=$(printf '%s' "$json" | sed -n 's/.*"branch": *"\([^"]*\)".*/\1/p' | head -n 1)
  # A commit that changes nothing (a release marker) must be a run with nothing to commit.
  if [ -n "$id" ] && [ -z "$r" ] && [ "$(git rev-parse "$c^{tree}")" = "$(git rev-parse "$p^{tree}")" ] &&
    printf '%s' "$json" | grep -F '"outcome_status": "no_op"' >/dev/null; then
    stats=$((stats + 1)) trees=$((trees + 1)) patches=$((patches + 1))
    [ -n "$wt" ] && git worktree remove --force "$wt" 2>/dev/null || true
    continue
  fi
  if [ -z "$id" ] || [ -z "$r" ]; then
    mismatches+=("$c run failed: $(head -c 300 "$scratch/stderr")")
    continue
  fi
  g cat-file blob "refs/oc/runs/$id:diff_stat.txt" > "$scratch/ours"
  # Attributes as git-oc reads them, from the commit itself (the scratch clone's own would be
  # HEAD's: a .gitattributes added later would make git call an old file binary).
  {
    g --attr-source="$c" diff --no-ext-diff --numstat "$p" "$r"
    short=$(g --attr-source="$c" diff --no-ext-diff --shortstat "$p" "$r")
    [ -z "$short" ] || printf '\n%s\n' "$short"
  } > "$scratch/theirs"
  summary=$(g cat-file blob "refs/oc/runs/$id:summary.json")
  short=$(g --attr-source="$c" diff --no-ext-diff --shortstat "$p" "$r" | sed 's/^ //')
  if cmp -s "$scratch/ours" "$scratch/theirs" && { [ -z "$short" ] || printf '%s' "$summary" | grep -F "\"diff_stat\": \"$short\"" >/dev/null; }; then
    stats=$((stats + 1))
  else
    mismatches+=("$c stats: $(diff "$scratch/ours" "$scratch/theirs" | head -n 8 | tr '\n' '|')")
  fi
  if [ "$(git rev-parse "$r^{tree}")" = "$(git rev-parse "$c^{tree}")" ]; then
    trees=$((trees + 1))
  else
    mismatches+=("$c tree: $(g diff --no-ext-diff --name-status "$c" "$r" | head -n 5 | tr '\n' '|')")
  fi
  g cat-file blob "refs/oc/runs/$id:diff.patch" > "$scratch/patch"
  rm -f "$scratch/index"
  if GIT_INDEX_FILE=$scratch/index git read-tree "$p" &&
    GIT_INDEX_FILE=$scratch/index git apply --cached --binary "$scratch/patch" 2>/dev/null &&
    [ "$(GIT_INDEX_FILE=$scratch/index git write-tree)" = "$(git rev-parse "$r^{tree}")" ]; then
    patches=$((patches + 1))
  elif grep -q '\[REDACTED:' "$scratch/patch" || grep -q '^git-oc: the patch of a rejected run is withheld' "$scratch/patch"; then
    # The change holds a credential (an access key id in a URL, say), which evidence never
    # keeps: the patch says [REDACTED:<kind>] in its place (one the change removes), or the
    # post-run gate rejected the change (one it adds) and the patch is withheld.
    redacted=$((redacted + 1))
  else
    mismatches+=("$c patch does not apply")
  fi
  # Keep the scratch clone small: the run's checkout and branch go, its evidence stays.
  [ -n "$wt" ] && git worktree remove --force "$wt" 2>/dev/null || true
  [ -n "$branch" ] && git branch -q -D "$branch" 2>/dev/null || true
done < "$scratch/sample"

for m in ${mismatches[@]+"${mismatches[@]}"}; do
  echo "mismatch: $m"
done
echo "replayed $n of $total commits of $repo ($skipped skipped: missing blobs): stats agree $stats/$n, trees $trees/$n, patches $patches/$n ($redacted with a credential redacted or withheld)"
[ "$stats" = "$n" ] && [ "$trees" = "$n" ] && [ "$((patches + redacted))" = "$n" ]
