#!/bin/sh
# Reports a problem on standard error and exits with status 3.
echo "partial output"
echo "something went wrong" >&2
exit 3
