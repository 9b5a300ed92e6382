#!/bin/sh
# Never finishes on its own.
exec sleep 300
