#!/bin/sh
# Starts a sleeping grandchild, writes its pid to the file named by $1 and
# waits for it. The grandchild keeps standard output open.
sleep 300 &
echo $! > "$1"
wait
