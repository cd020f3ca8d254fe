#!/bin/sh
# The image's entrypoint: `docker run IMAGE web` runs the Procfile's `web`
# line (any other process type by its name), in place of this script, so the
# process gets the container's signals itself.  Arguments after the name are
# added to its command.
set -eu

usage() {
    echo "usage: docker run IMAGE PROCESS [ARGUMENT...], PROCESS one of:" $(sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' Procfile) >&2
    exit 2
}

[ $# -ge 1 ] || usage
name=$1
shift
case $name in
    '' | *[!A-Za-z0-9_-]*) echo "no process type named '$name' in the Procfile" >&2; usage ;;
esac
command=$(sed -n "s/^$name:[[:space:]]*//p" Procfile)
if [ -z "$command" ]; then
    echo "no process type named '$name' in the Procfile" >&2
    usage
fi
# The Procfile's own defaults (${PORT:-8000}, …) apply, as on a platform.
exec sh -c "exec $command \"\$@\"" "$name" "$@"
