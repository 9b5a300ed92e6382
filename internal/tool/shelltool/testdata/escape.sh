#!/bin/sh
# Starts a sleeping grandchild in a session of its own, out of reach of a
# process-group kill, writes its pid to the file named by $1 and exits once
# the grandchild is in its new session. The grandchild keeps standard
# output open.
mkfifo "$1.ready"
setsid sh -c 'echo $$ > "$1"; echo > "$1.ready"; exec sleep 300' sh "$1" &
read -r _ < "$1.ready"
echo done
