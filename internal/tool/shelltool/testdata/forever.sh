#!/bin/sh
# Writes to standard output until it is killed.
while :; do
	echo "all work and no play makes jack a dull boy"
done
