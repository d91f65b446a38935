#!/usr/bin/env bash
# A Nanoedge cluster on loopback, as separate processes: three control
# plane nodes (n1 n2 n3) and two workers (w1 w2).
#
#   cluster.sh up    [DIR]          build (unless NANOEDGE_BIN is set) and start all
#   cluster.sh down  [DIR]          stop all
#   cluster.sh start NAME [DIR]     start or restart one process (n1 n2 n3 w1 w2)
#   cluster.sh stop  NAME [DIR]     stop one process; KILL=1 sends SIGKILL
#   cluster.sh pause NAME [DIR]     freeze one process (SIGSTOP), as a hung host
#   cluster.sh resume NAME [DIR]    let a paused process go on (SIGCONT)
#   cluster.sh env   [DIR]          print the exports client commands need
#
# DIR defaults to ./.nanoedge-local and holds the binary, data dirs, logs,
# pid files, the admin and worker tokens and a publisher key. Ports come
# from NANOEDGE_PORT_BASE (default 17000): node i serves gRPC on base+10i
# and Raft on base+10i+1, worker j serves HTTP on base+100+j.
set -euo pipefail

cmd="${1:-}"
case "$cmd" in
	start | stop | pause | resume) name="${2:?NAME}"; dir="${3:-.nanoedge-local}" ;;
	up | down | env) dir="${2:-.nanoedge-local}" ;;
	*) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
mkdir -p "$dir/logs" "$dir/pids"
dir="$(cd "$dir" && pwd)"
base="${NANOEDGE_PORT_BASE:-17000}"
bin="${NANOEDGE_BIN:-$dir/nanoedge}"

grpc_addr() { echo "127.0.0.1:$((base + 10 * ${1#n}))"; }
raft_addr() { echo "127.0.0.1:$((base + 10 * ${1#n} + 1))"; }
http_addr() { echo "127.0.0.1:$((base + 100 + ${1#w}))"; }
all_grpc() { echo "$(grpc_addr n1),$(grpc_addr n2),$(grpc_addr n3)"; }
admin() { cat "$dir/admin.token"; }

running() { [ -f "$dir/pids/$1.pid" ] && kill -0 "$(cat "$dir/pids/$1.pid")" 2>/dev/null; }

# wait_for DESC CMD...: retry CMD for up to 60 s.
wait_for() {
	local desc="$1"; shift
	for _ in $(seq 1 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	echo "cluster.sh: timed out waiting for $desc" >&2
	return 1
}

start() {
	local name="$1"
	if running "$name"; then echo "$name is already running"; return 0; fi
	local args
	case "$name" in
		n1 | n2 | n3)
			args=(controlplane --node-id "$name" --data-dir "$dir/$name"
				--grpc-addr "$(grpc_addr "$name")" --raft-addr "$(raft_addr "$name")")
			if [ "$name" = n1 ]; then
				args+=(--bootstrap-token-file "$dir/admin.token")
			elif [ ! -d "$dir/$name" ]; then
				# First start: ask the cluster to add this node; later starts
				# resume from the node's own state.
				args+=(--join "$(grpc_addr n1)" --token-file "$dir/admin.token")
			fi
			;;
		w1 | w2)
			args=(worker --controlplane "$(all_grpc)" --token-file "$dir/worker.token"
				--http-addr "$(http_addr "$name")" --cache-dir "$dir/cache" --state-dir "$dir/$name-state")
			;;
		*) echo "cluster.sh: unknown process $name (want n1 n2 n3 w1 w2)" >&2; exit 2 ;;
	esac
	"$bin" "${args[@]}" >>"$dir/logs/$name.log" 2>&1 &
	echo $! >"$dir/pids/$name.pid"
	case "$name" in
		n*) wait_for "$name to serve" "$bin" cluster members --controlplane "$(grpc_addr "$name")" --token-file "$dir/admin.token" ;;
		w*) wait_for "$name to sync" curl -fsS "http://$(http_addr "$name")/.nanoedge/healthz" ;;
	esac
	echo "$name running (pid $(cat "$dir/pids/$name.pid"), log $dir/logs/$name.log)"
}

stop() {
	local name="$1" pid
	running "$name" || { rm -f "$dir/pids/$name.pid"; return 0; }
	pid="$(cat "$dir/pids/$name.pid")"
	local sig=TERM
	if [ -n "${KILL:-}" ]; then sig=KILL; fi
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$dir/pids/$name.pid"
	echo "$name stopped"
}

case "$cmd" in
	up)
		if [ -z "${NANOEDGE_BIN:-}" ]; then
			(cd "$(dirname "$0")/../.." && go build -o "$bin" ./cmd/nanoedge)
		fi
		if [ ! -f "$dir/admin.token" ]; then
			hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
			(umask 077; echo "ne_$(hex 8)_$(hex 16)" >"$dir/admin.token")
		fi
		start n1
		start n2
		start n3
		if [ ! -f "$dir/worker.token" ]; then
			(umask 077; "$bin" tokens create --controlplane "$(all_grpc)" --token "$(admin)" \
				--name local-workers --role worker 2>/dev/null >"$dir/worker.token")
		fi
		if [ ! -f "$dir/publisher.key" ]; then
			"$bin" keys generate --out "$dir/publisher.key" >/dev/null
			"$bin" keys add --controlplane "$(all_grpc)" --token "$(admin)" --name local --key-file "$dir/publisher.key" >/dev/null
		fi
		start w1
		start w2
		echo "cluster up; for client commands run: eval \"\$($0 env $dir)\""
		;;
	down)
		for n in w1 w2 n3 n2 n1; do stop "$n"; done
		;;
	start) start "$name" ;;
	stop) stop "$name" ;;
	pause) running "$name" && kill -STOP "$(cat "$dir/pids/$name.pid")" && echo "$name paused" ;;
	resume) running "$name" && kill -CONT "$(cat "$dir/pids/$name.pid")" && echo "$name resumed" ;;
	env)
		echo "export NANOEDGE_CONTROLPLANE=$(all_grpc)"
		echo "export NANOEDGE_TOKEN=$(admin)"
		echo "export NANOEDGE_KEY=$dir/publisher.key"
		echo "# workers: http://$(http_addr w1) http://$(http_addr w2)"
		;;
esac
