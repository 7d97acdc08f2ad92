#!/bin/sh
# netns-agent.sh -- Open MPI's rsh launch agent for scripts/bench-two-host.sh:
# instead of ssh HOST CMD..., run CMD in the second "host" (the network
# namespace named by BENCH_NETNS_B). Open MPI passes the remote command as
# words for a shell, as ssh would.
[ -n "$BENCH_NETNS_B" ] || { echo "netns-agent: BENCH_NETNS_B not set" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in -*) shift ;; *) break ;; esac   # ssh-style options, if any
done
shift   # the host name
exec ip netns exec "$BENCH_NETNS_B" unshare --uts /bin/sh -c "hostname dlbench-host-b; $*"
