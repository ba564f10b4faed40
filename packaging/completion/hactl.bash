# bash completion for hactl(8): verbs, options, files, and the running cluster's node names and
# resource ids (asked of the local agent with `hactl status --json`, at most 2 s; nothing when
# no agent answers). Installed as /usr/share/bash-completion/completions/hactl.

# Node names (nodes) or resource, group and clone ids (resources) from `hactl status --json`
# on stdin, one per line. python3 when there is one, else sed.
_hactl_names_from_status() {
    local what=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
names = []
if sys.argv[1] == "nodes":
    names = [n.get("name") for n in s.get("nodes", [])]
else:
    for r in s.get("resources", []):
        names += [r.get("id"), r.get("top")]
seen = set()
for n in names:
    if isinstance(n, str) and n and n not in seen:
        seen.add(n)
        print(n)
' "$what" 2>/dev/null
        return 0
    fi
    # Without python3: the document on one line, the "nodes" or "resources" array cut out of it
    # (up to the key that follows it), one object per line (neither array's objects hold an
    # object with "}, {" inside).
    local json
    json=$(tr -d '\n')
    if [[ $what == nodes ]]; then
        json=${json#*\"nodes\":*\[}
        json=${json%%\"transport\":*} # the key after "nodes" (a "]" may be in a reason)
        printf '%s\n' "$json" | sed -e 's/} *, *{/}\n{/g' |
            sed -n 's/.*"name": *"\([^"]*\)".*/\1/p'
    else
        json=${json#*\"resources\":*\[}
        json=${json%%\"scheduler\":*}
        printf '%s\n' "$json" | sed -e 's/} *, *{/}\n{/g' |
            sed -n -e 'h;s/.*"id": *"\([^"]*\)".*/\1/p' -e 'g;s/.*"top": *"\([^"]*\)".*/\1/p' |
            awk '!seen[$0]++'
    fi
}

# Asks the agent (the --socket on the line, else $HACTL_SOCKET, else the default).
_hactl_names() {
    local what=$1 socket=$2
    local -a args=()
    [[ -n $socket ]] && args=(--socket "$socket")
    timeout 2 "${_hactl_cmd:-hactl}" "${args[@]}" status --json 2>/dev/null </dev/null |
        _hactl_names_from_status "$what"
}

_hactl() {
    # The words, re-joined where bash split them at "=" (it is in COMP_WORDBREAKS):
    # "--socket" "=" "/x" is "--socket=/x" again.
    local -a words=()
    local i word glue=0
    for ((i = 0; i <= COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((${#words[@]} > 0)) && [[ $word == "=" || $glue == 1 ]]; then
            words[-1]+=$word
            [[ $word == "=" ]] && glue=1 || glue=0
        else
            words+=("$word")
            glue=0
        fi
    done
    local cword=$((${#words[@]} - 1))
    local cur=${words[cword]} prev=""
    ((cword > 0)) && prev=${words[cword - 1]}
    # --option=value at the cursor: complete the value (bash replaces only what follows "=").
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
    fi
    local _hactl_cmd=${words[0]}

    # The verb path typed so far, the positional arguments after it, the socket.
    local -a path=() positional=()
    local socket=""
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        case $word in
        -s | --socket)
            ((i++))
            socket=${words[i]}
            continue
            ;;
        --socket=*)
            socket=${word#--socket=}
            continue
            ;;
        --lifetime | --node | --timeout | --interval | -n | --count | --kill | --fail | \
            --config | --version | --address | --output | -o | -c | --name | --vip | \
            --interface | --arbiter | --witness | --key | --report)
            # Options that take a value (--version only under config show).
            if [[ $word != --version || "${path[*]}" == "config show" ]]; then
                ((i++))
            fi
            continue
            ;;
        -*) continue ;;
        esac
        if [[ ${#positional[@]} -eq 0 ]] && _hactl_is_verb "${path[*]}" "$word"; then
            path+=("$word")
        else
            positional+=("$word")
        fi
    done

    local verb="${path[*]}"
    local words="" opts=""
    case $verb in
    "") words="status events init import keygen node coordinator cluster resource config simulate explain arbiter"
        opts="--socket --version --help" ;;
    node) words="standby online maintenance" ;;
    coordinator) words="handover" ;;
    cluster) words="unblock" ;;
    resource) words="move ban clear enable disable restart cleanup" ;;
    config) words="validate diff apply show history" ;;
    arbiter) words="status key" ;;
    import) words="keepalived" ;;
    "import keepalived")
        opts="--node --address --name --key --arbiter --witness --output --report --force"
        ;;
    "arbiter status") opts="--address --json" ;;
    "arbiter key") opts="--config --output" ;;
    status) opts="--json --watch --interval" ;;
    init)
        opts="--name --node --vip --interface --arbiter --witness --fencing --output --key --force"
        ;;
    events) opts="--count --follow --json --audit" ;;
    "node online") opts="--force" ;;
    "resource move" | "resource ban") opts="--lifetime --dry-run --promoted" ;;
    "resource clear" | "resource cleanup") opts="--node" ;;
    "resource restart") opts="--timeout" ;;
    "config validate") opts="--node" ;;
    "config diff") opts="--json" ;;
    "config apply") opts="--timeout" ;;
    "config show") opts="--version --json" ;;
    "config history") opts="--json" ;;
    simulate) opts="--kill --fail --config --state --json --dump-state" ;;
    explain) opts="--node --config --state --json" ;;
    esac
    [[ -n $verb ]] && opts="$opts --help"

    # The value of an option.
    case $prev in
    -s | --socket)
        _hactl_files "$cur"
        return 0
        ;;
    --config | --state | -c)
        [[ $verb == simulate || $verb == explain || $verb == "arbiter key" ]] && _hactl_files "$cur"
        return 0
        ;;
    --output | -o | --key | --report)
        [[ $verb == "arbiter key" || $verb == init || $verb == "import keepalived" ]] &&
            _hactl_files "$cur"
        return 0
        ;;
    --interface)
        # This host's interfaces (the vip's must have the same name on both nodes).
        [[ -d /sys/class/net ]] &&
            mapfile -t COMPREPLY < <(compgen -W "$(ls /sys/class/net)" -- "$cur")
        return 0
        ;;
    --name | --vip | --arbiter | --witness)
        return 0
        ;;
    --address)
        return 0
        ;;
    --node | --kill)
        # NAME=ADDRESS or NAME=FILE: a new node, not the cluster's
        [[ $verb == init || $verb == "import keepalived" ]] && return 0
        mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names nodes "$socket")" -- "$cur")
        return 0
        ;;
    --fail)
        mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names resources "$socket")" -- "$cur")
        return 0
        ;;
    --lifetime | --timeout | --interval | -n | --count)
        return 0
        ;;
    --version)
        [[ $verb == "config show" ]] && return 0
        ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return 0
    fi
    if [[ -n $words ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
        return 0
    fi

    # Positional arguments.
    local n=${#positional[@]}
    case $verb in
    keygen | "config validate" | "config diff" | "config apply")
        ((n == 0)) && _hactl_files "$cur"
        ;;
    "import keepalived")
        _hactl_files "$cur" # one keepalived.conf per host
        ;;
    "node standby" | "node online" | "node maintenance" | "coordinator handover")
        ((n == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names nodes "$socket")" -- "$cur")
        ;;
    "resource move" | "resource ban")
        if ((n == 0)); then
            mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names resources "$socket")" -- "$cur")
        elif ((n == 1)); then
            mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names nodes "$socket")" -- "$cur")
        fi
        ;;
    "resource clear" | "resource restart" | "resource cleanup" | explain)
        ((n == 0)) && mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names resources "$socket")" -- "$cur")
        ;;
    "resource enable" | "resource disable")
        mapfile -t COMPREPLY < <(compgen -W "$(_hactl_names resources "$socket")" -- "$cur")
        ;;
    esac
    return 0
}

# Whether WORD is a verb under PATH ("" for the top level).
_hactl_is_verb() {
    case "$1:$2" in
    :status | :events | :init | :import | :keygen | :node | :coordinator | :cluster | :resource | \
        :config | :simulate | :explain | :arbiter) return 0 ;;
    import:keepalived) return 0 ;;
    cluster:unblock) return 0 ;;
    arbiter:status | arbiter:key) return 0 ;;
    coordinator:handover) return 0 ;;
    node:standby | node:online | node:maintenance) return 0 ;;
    resource:move | resource:ban | resource:clear | resource:enable | resource:disable | \
        resource:restart | resource:cleanup) return 0 ;;
    config:validate | config:diff | config:apply | config:show | config:history) return 0 ;;
    esac
    return 1
}

# File names (bash-completion's _filedir when loaded).
_hactl_files() {
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$1")
    fi
}

complete -F _hactl hactl
