#!/bin/sh
# Writes a long standard error, ending with a marker, and fails.
i=0
while [ $i -lt 500 ]; do
	echo "noise line $i" >&2
	i=$((i + 1))
done
echo "the real reason" >&2
exit 1
