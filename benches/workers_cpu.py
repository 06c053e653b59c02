#!/usr/bin/env python3
"""Where the workers' CPU goes: N workers on their own clones of a remote served by `git daemon`
on 127.0.0.1, T tasks whose fake agent takes MS ms, as `cargo bench --bench workers` sets them up,
with the whole machine's busy CPU time read from /proc/stat around the run: the CPU each task
costs (git-oc, git on both sides, the agent, the kernel), which a throughput figure hides.

    python3 benches/workers_cpu.py target/release/git-oc 8 200 500 [perf]

The tree goes to a temporary directory under $WKDIR (default /dev/shm, a tmpfs; set it to a
directory on disk to see the file system's share). `perf` records the whole machine meanwhile
(`perf record -a`, to /tmp/workers-cpu.perf). Prints the workers' summed counters (claims lost,
fetches, pushes) and: wall time, throughput, busy CPU seconds, CPU per task, utilization.

Optional: REMOTE_CFG=key=value[,key=value] configures the remote (`receive.unpackLimit=1` keeps
every push packed), W_CFG the same for each worker's clone, WRAP a program to run the workers
through instead of git-oc itself (strace, say), KEEP=1 keeps the tree. With GIT_TRACE2 set to a
directory, each git process writes its own trace there, named with its pid: that names the
processes in `perf report --sort pid`. GIT_OC_LOG is passed to the workers (`git_oc=debug`:
every stage's and ref edit's time), as is every other GIT_OC_* variable, and LOG=path writes each line the workers print to stderr
there, prefixed with the seconds since the start and the worker's number.
"""
import atexit, json, os, sys, subprocess, tempfile, time, socket, threading
BIN, N, T, MS = os.path.abspath(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
PERF = len(sys.argv) > 5 and sys.argv[5] == 'perf'
root = tempfile.mkdtemp(prefix='wk-', dir=os.environ.get('WKDIR', '/dev/shm'))
home = os.path.join(root, 'home'); os.makedirs(home)
env = {'PATH': os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'bin') + ':' + os.environ['PATH'], 'HOME': home, 'GIT_CONFIG_GLOBAL': '/dev/null',
       'GIT_CONFIG_NOSYSTEM': '1', 'GIT_AUTHOR_NAME': 'B', 'GIT_AUTHOR_EMAIL': 'b@e', 'GIT_COMMITTER_NAME': 'B', 'GIT_COMMITTER_EMAIL': 'b@e'}
SETUP_ENV=dict(env)
def run(cwd, *a):
    subprocess.run(a, cwd=cwd, env=SETUP_ENV, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
origin = os.path.join(root, 'origin'); os.makedirs(origin + '/.oc')
run(origin, 'git', 'init', '-q', '-b', 'main')
open(origin + '/README.md', 'w').write('# bench\n')
open(origin + '/.oc/config.toml', 'w').write(f'[run]\nbackend = "command"\nrepo_key = "bench"\n[backends.command]\nargv = ["fake-agent", "work", "{MS}", "{MS}"]\n[[policy.repo_policies]]\nrepo_key = "bench"\nreplace_defaults = true\n')
run(origin, 'git', 'add', '-A'); run(origin, 'git', 'commit', '-q', '-m', 'init')
run(root, 'git', 'clone', '-q', '--bare', 'origin', 'remote.git')
run(root, 'git', 'clone', '-q', 'remote.git', 'seed')
seed = root + '/seed'
for kv in filter(None, os.environ.get('REMOTE_CFG','').split(',')):
    k, v = kv.split('=')
    run(root + '/remote.git', 'git', 'config', k, v)
for i in range(T):
    run(seed, BIN, 'task', 'add', f'Task {i}', '--state', 'ready', '--repo', 'bench', '-m', f'## Goal\nDo thing {i}.\n')
run(seed, BIN, 'push', 'origin')
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
env.update({k:v for k,v in os.environ.items() if k.startswith('GIT_TRACE2') or k.startswith('GIT_OC_')})
# git-daemon itself: `git daemon` would start it as a child that outlives a killed parent.
exec_path = subprocess.run(['git', '--exec-path'], capture_output=True, text=True, check=True).stdout.strip()
d = subprocess.Popen([os.path.join(exec_path, 'git-daemon'), '--reuseaddr', '--listen=127.0.0.1', f'--port={port}', f'--base-path={root}', '--export-all', '--enable=receive-pack', root], env=env, stderr=subprocess.DEVNULL)
atexit.register(d.kill)
url = f'git://127.0.0.1:{port}/remote.git'
for _ in range(200):
    if subprocess.run(['git', 'ls-remote', url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0: break
    time.sleep(0.02)
for w in range(N):
    run(root, 'git', 'clone', '-q', url, f'w{w}')
    for kv in filter(None, os.environ.get('W_CFG','').split(',')):
        k, v = kv.split('=')
        run(f'{root}/w{w}', 'git', 'config', k, v)
def stat():
    f = open('/proc/stat').readline().split()[1:]
    v = list(map(int, f)); return sum(v) - v[3] - v[4], sum(v)
perf = None
if PERF:
    perf = subprocess.Popen(['perf', 'record', '-a', '-F', os.environ.get('PF','997'), '-o', '/tmp/workers-cpu.perf', '-q'], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
b0, t0 = stat(); start = time.monotonic()
kids = [subprocess.Popen([os.environ.get('WRAP',BIN), '-v', '--json', 'worker', '--remote', 'origin', '--name', f'w{w}', '--idle-exit', '0.5', '--lease', '30s'],
        cwd=f'{root}/w{w}', env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) for w in range(N)]
done = []; lock = threading.Lock(); ev = threading.Event()
log = open(os.environ['LOG'], 'wb') if os.environ.get('LOG') else None
def rd(p):
    for line in p.stderr:
        if log:
            with lock:
                log.write(f'{time.monotonic() - start:.3f} {kids.index(p)} '.encode() + line)
        if line.startswith(b'published '):
            with lock:
                done.append(time.monotonic())
                if len(done) == T: ev.set()
ths = [threading.Thread(target=rd, args=(k,)) for k in kids]
[t.start() for t in ths]
ev.wait()
wall = done[-1] - start; b1, t1 = stat()
if perf: perf.send_signal(2); perf.wait()
outs=[json.loads(k.stdout.read() or b'{}') for k in kids]; [k.wait() for k in kids]
agg={}
for o in outs:
    for key in ('claims_lost','leases_lost','fetches','pushes','idle_fetches'):
        agg[key]=agg.get(key,0)+o.get(key,0)
    agg['tasks']=agg.get('tasks',0)+len(o.get('tasks',[]))
print(agg)
d.kill()
hz = os.sysconf('SC_CLK_TCK')
busy = (b1 - b0) / hz
print(f'N={N} T={T} wall={wall:.2f}s thr={T/wall:.2f}/s busy={busy:.2f} CPU-s  per task={busy/T*1000:.0f} ms CPU  util={busy/wall/os.cpu_count():.2f}')
if not os.environ.get('KEEP'): subprocess.run(['rm', '-rf', root])
else: print(root)
