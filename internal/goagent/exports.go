package goagent

import (
	"maps"
	"path"
	"sync"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/omniserve/omniserve/internal/goagent/symbols"
)

// withheld lists the standard packages agent files may not import, by
// import path: they would reach past the agent into the server process
// (signals, GC and profiling settings) or the machine (processes, raw system
// calls, memory). os/exec, syscall and unsafe are not in yaegi's stdlib
// table at all; they are listed so the rule reads in one place.
var withheld = map[string]bool{
	"os/exec":        true,
	"os/signal":      true,
	"syscall":        true,
	"unsafe":         true,
	"plugin":         true,
	"runtime/debug":  true,
	"runtime/pprof":  true,
	"runtime/trace":  true,
	"net/http/pprof": true,
	// yaegi's own symbol table, which would let a file load any package.
	"github.com/traefik/yaegi/stdlib": true,
}

// withheldSymbols lists single symbols removed from allowed packages.
var withheldSymbols = map[string][]string{
	// os.StartProcess is os/exec by another name.
	"os": {"StartProcess"},
}

// exportSet is what every interpreter is given.
type exportSet struct {
	// symbols is in the form [interp.Interpreter.Use] takes. Its maps are
	// shared and never modified: the interpreter copies what it is given.
	symbols interp.Exports
	// paths holds the import paths of symbols.
	paths map[string]bool
}

// exported returns the standard library minus [withheld], and the
// omniserve package.
var exported = sync.OnceValue(func() *exportSet {
	es := &exportSet{
		symbols: make(interp.Exports, len(stdlib.Symbols)+len(symbols.Symbols)),
		paths:   make(map[string]bool, len(stdlib.Symbols)+len(symbols.Symbols)),
	}
	for key, syms := range stdlib.Symbols {
		importPath := path.Dir(key)
		if withheld[importPath] {
			continue
		}
		if drop := withheldSymbols[importPath]; len(drop) > 0 {
			syms = maps.Clone(syms)
			for _, name := range drop {
				delete(syms, name)
			}
		}
		es.symbols[key] = syms
	}
	maps.Copy(es.symbols, symbols.Symbols)
	for key := range es.symbols {
		// Keys are "import/path/name"; "." holds yaegi's type mappings.
		if key != "." {
			es.paths[path.Dir(key)] = true
		}
	}
	return es
})
