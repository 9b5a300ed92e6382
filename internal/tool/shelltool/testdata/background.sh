#!/bin/sh
# Starts a sleeping grandchild, records its pid in the file named by $1 and
# exits at once, leaving the grandchild behind with standard output open.
sleep 300 &
echo $! > "$1"
echo done
