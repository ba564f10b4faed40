# hactl-arbiter %preun: on removal (not upgrade), stop it.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl --no-reload disable --now hactl-arbiter.service >/dev/null 2>&1 || :
fi
