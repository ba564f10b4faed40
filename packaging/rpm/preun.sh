# hactl %preun: on removal (not upgrade), stop the agent: it hands its resources over first.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl --no-reload disable --now hactl-agent.service >/dev/null 2>&1 || :
fi
