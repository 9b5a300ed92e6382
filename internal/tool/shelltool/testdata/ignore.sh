#!/bin/sh
# Ignores its input and succeeds.
echo ignored
