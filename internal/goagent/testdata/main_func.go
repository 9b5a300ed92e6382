//go:build ignore

package main

import (
	"fmt"

	"github.com/omniserve/omniserve"
)

var Agent *omniserve.Agent

func main() {
	fmt.Println("this must never run")
}
