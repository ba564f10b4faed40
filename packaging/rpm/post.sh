# hactl %post: the haclient group; systemd told of the unit (not enabled, not started: the
# agent needs this cluster's configuration and key first). An upgrade does not restart a
# running agent: a restart hands its resources to other nodes (hactl-agent(8)).
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers hactl.conf || :
elif ! getent group haclient >/dev/null; then
	groupadd -r haclient || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ] && [ ! -e /etc/hactl/authkey ]; then
	echo "hactl: create the cluster key with: hactl keygen /etc/hactl/authkey (then copy it to every node), see hactl-agent(8)"
fi
