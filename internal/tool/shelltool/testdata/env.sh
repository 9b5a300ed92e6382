#!/bin/sh
# Prints its environment, one variable a line.
exec env
