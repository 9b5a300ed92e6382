#!/bin/sh
# Prints its working directory.
exec pwd
