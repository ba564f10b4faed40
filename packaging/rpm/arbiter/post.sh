# hactl-arbiter %post: systemd told of the unit (not enabled, not started: it serves no cluster
# before a key is in /etc/hactl-arbiter/clusters).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
	echo "hactl-arbiter: put each cluster's key (hactl arbiter key) in /etc/hactl-arbiter/clusters, then systemctl enable --now hactl-arbiter; see hactl-arbiter(8)"
fi
