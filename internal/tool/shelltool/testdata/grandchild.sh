#!/bin/sh
# Starts a sleeping grandchild, records its pid in the file named by $1
# (written to a temporary name first, so the file is complete once it
# exists) and waits. The grandchild keeps standard output open.
sleep 300 &
echo $! > "$1.tmp"
mv "$1.tmp" "$1"
wait
