package builtin

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()

	// Variables, so products are rounded as at run time, not folded exactly.
	pi, e := math.Pi, math.E

	tests := []struct {
		expr string
		want float64
	}{
		{expr: "6*7", want: 42},
		{expr: "42", want: 42},
		{expr: "  1 +\t2\n ", want: 3},
		{expr: "2.5", want: 2.5},
		{expr: ".5", want: 0.5},
		{expr: "5.", want: 5},
		{expr: "1e3", want: 1000},
		{expr: "1.5E-3", want: 0.0015},
		{expr: "2e+2", want: 200},
		{expr: "1e-400", want: 0},

		// Precedence and associativity.
		{expr: "1+2*3", want: 7},
		{expr: "(1+2)*3", want: 9},
		{expr: "10-4-3", want: 3},
		{expr: "100/10/5", want: 2},
		{expr: "2*3%4", want: 2},
		{expr: "7%3", want: 1},
		{expr: "-7%3", want: -1},
		{expr: "5.5%2", want: 1.5},
		{expr: "2^10", want: 1024},
		{expr: "2**10", want: 1024},
		{expr: "2^3^2", want: 512},
		{expr: "(2^3)^2", want: 64},
		{expr: "-2^2", want: -4},
		{expr: "(-2)^2", want: 4},
		{expr: "2^-1", want: 0.5},
		{expr: "-2^-2", want: -0.25},
		{expr: "2*-3", want: -6},
		{expr: "--1", want: 1},
		{expr: "+-+1", want: -1},
		{expr: "-(3-5)", want: 2},
		{expr: "1-2^2*3", want: -11},
		{expr: "0^0", want: 1},

		// Constants and functions.
		{expr: "pi", want: math.Pi},
		{expr: "e", want: math.E},
		{expr: "pi*e", want: pi * e},
		{expr: "2*pi", want: 2 * pi},
		{expr: "PI", want: math.Pi},
		{expr: "sqrt(16)", want: 4},
		{expr: "SQRT(2)", want: math.Sqrt2},
		{expr: "sqrt(0)", want: 0},
		{expr: "abs(-3.5)", want: 3.5},
		{expr: "floor(2.7)", want: 2},
		{expr: "ceil(2.1)", want: 3},
		{expr: "round(2.5)", want: 3},
		{expr: "round(-2.5)", want: -3},
		{expr: "exp(0)", want: 1},
		{expr: "ln(e)", want: 1},
		{expr: "log(1000)", want: 3},
		{expr: "log2(8)", want: 3},
		{expr: "sin(0)", want: 0},
		{expr: "cos(0)", want: 1},
		{expr: "tan(0)", want: 0},
		{expr: "sqrt(abs(-16)) + floor(-0.5)", want: 3},
		{expr: strings.Repeat("(", 63) + "1" + strings.Repeat(")", 63), want: 1},
		{expr: strings.Repeat("1+", 127) + "1", want: 128},
	}
	for _, tt := range tests {
		got, err := evaluate(tt.expr)
		if err != nil {
			t.Errorf("evaluate(%q): unexpected error %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("evaluate(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		expr    string
		wantErr error
		// wantText, when set, must appear in the message.
		wantText string
	}{
		{name: "empty", expr: "", wantErr: errEmpty},
		{name: "blank", expr: " \t\n", wantErr: errEmpty},
		{name: "python import", expr: "__import__('os')", wantErr: errUnknownName, wantText: `"__import__"`},
		{name: "python eval", expr: `eval("1")`, wantErr: errUnknownName, wantText: `"eval"`},
		{name: "attribute access", expr: "os.system", wantErr: errUnknownName, wantText: `"os"`},
		{name: "unknown name", expr: "x + 1", wantErr: errUnknownName, wantText: "known: constants e, pi"},
		{name: "function without call", expr: "sqrt 4", wantErr: errUnexpected, wantText: "needs an argument"},
		{name: "division by zero", expr: "1/0", wantErr: errDivByZero},
		{name: "division by an expression equal to zero", expr: "1/(2-2)", wantErr: errDivByZero},
		{name: "modulo by zero", expr: "5%0", wantErr: errModByZero},
		{name: "zero to a negative power", expr: "0^-1", wantErr: errDivByZero},
		{name: "power overflow", expr: "2^10000", wantErr: errOverflow},
		{name: "multiplication overflow", expr: "1e300*1e300", wantErr: errOverflow},
		{name: "exp overflow", expr: "exp(1000)", wantErr: errOverflow},
		{name: "intermediate overflow", expr: "1/(2^10000)", wantErr: errOverflow},
		{name: "literal too large", expr: "1e309", wantErr: errOverflow, wantText: "1e309"},
		{name: "sqrt of negative", expr: "sqrt(-1)", wantErr: errDomain, wantText: "sqrt"},
		{name: "ln of zero", expr: "ln(0)", wantErr: errDomain},
		{name: "log of negative", expr: "log(-10)", wantErr: errDomain},
		{name: "NaN from power", expr: "(-8)^(1/3)", wantErr: errUndefined},
		{name: "open parentheses only", expr: "((((", wantErr: errUnbalanced},
		{name: "unclosed", expr: "(1+2", wantErr: errUnbalanced, wantText: "never closed"},
		{name: "unclosed function", expr: "sqrt(4", wantErr: errUnbalanced},
		{name: "extra close", expr: "1+2)", wantErr: errUnbalanced, wantText: "position 4"},
		{name: "close first", expr: ")(", wantErr: errUnbalanced},
		{name: "empty parentheses", expr: "()", wantErr: errUnbalanced},
		{name: "trailing number", expr: "1 2", wantErr: errUnexpected, wantText: "position 3"},
		{name: "implicit multiplication", expr: "2pi", wantErr: errUnexpected},
		{name: "adjacent groups", expr: "(1)(2)", wantErr: errUnexpected},
		{name: "double dot", expr: "1..2", wantErr: errUnexpected},
		{name: "dangling operator", expr: "1+", wantErr: errUnexpected},
		{name: "leading operator", expr: "*2", wantErr: errUnexpected},
		{name: "dangling power", expr: "2^", wantErr: errUnexpected},
		{name: "triple star", expr: "2***3", wantErr: errUnexpected},
		{name: "exponent without digits", expr: "1e", wantErr: errUnexpected},
		{name: "hex", expr: "0x10", wantErr: errUnexpected},
		{name: "comma", expr: "1,000", wantErr: errUnexpected},
		{name: "unicode digits", expr: "٣+١", wantErr: errUnexpected, wantText: "'٣'"},
		{name: "fullwidth digits", expr: "１２", wantErr: errUnexpected},
		{name: "unicode minus", expr: "5 − 3", wantErr: errUnexpected},
		{name: "NUL byte", expr: "1\x002", wantErr: errUnexpected, wantText: `'\x00'`},
		{name: "invalid UTF-8", expr: "1+\xff", wantErr: errUnexpected},
		{name: "shell", expr: "$(rm -rf /)", wantErr: errUnexpected},
		{name: "backticks", expr: "`ls`", wantErr: errUnexpected},
		{name: "infinity name", expr: "inf", wantErr: errUnknownName},
		{name: "nan name", expr: "NaN", wantErr: errUnknownName},
		{name: "too long", expr: strings.Repeat("1", maxExpressionBytes+1), wantErr: errTooLong},
		{name: "one megabyte", expr: strings.Repeat("1+", 1<<19), wantErr: errTooLong},
		{name: "ten thousand parentheses", expr: strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000), wantErr: errTooLong},
		{name: "nested too deeply", expr: strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), wantErr: errTooDeep},
		{name: "deep functions", expr: strings.Repeat("abs(", 70) + "1" + strings.Repeat(")", 70), wantErr: errTooDeep},
		{name: "deep signs", expr: strings.Repeat("-", 100) + "1", wantErr: errTooDeep},
		{name: "deep exponents", expr: strings.Repeat("2^", 100) + "1", wantErr: errTooDeep},
		{name: "too many tokens", expr: strings.Repeat("1+", 128) + "1", wantErr: errTooManyTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := evaluate(tt.expr)
			if err == nil {
				t.Fatalf("evaluate(%.40q) = %v, nil; want error %v", tt.expr, got, tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("evaluate(%.40q) error = %v, want %v", tt.expr, err, tt.wantErr)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("evaluate(%.40q) error %q does not contain %q", tt.expr, err, tt.wantText)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()

	tenth := 0.1 // a variable, so the sum is rounded as at run time

	tests := []struct {
		x    float64
		want string
	}{
		{x: 42, want: "42"},
		{x: -4, want: "-4"},
		{x: 0, want: "0"},
		{x: math.Copysign(0, -1), want: "0"},
		{x: 0.5, want: "0.5"},
		{x: tenth + 2*tenth, want: "0.30000000000000004"},
		{x: 1 << 53, want: "9007199254740992"},
		{x: -(1 << 53), want: "-9007199254740992"},
		{x: 1e16, want: "1e+16"},
		{x: 1e21, want: "1e+21"},
		{x: 1.5e-7, want: "1.5e-07"},
	}
	for _, tt := range tests {
		got := formatNumber(tt.x)
		if got != tt.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tt.x, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("formatNumber(%v) = %q is not a JSON number", tt.x, got)
		}
	}
}

func TestCalculateTool(t *testing.T) {
	t.Parallel()

	tl, err := New("calculate")
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	tests := []struct {
		args string
		want string
	}{
		{args: `{"expression": "6*7"}`, want: `{"expression":"6*7","result":42}`},
		{args: `{"expression": "1/4"}`, want: `{"expression":"1/4","result":0.25}`},
		{args: `{"expression": "2^0.5"}`, want: `{"expression":"2^0.5","result":1.4142135623730951}`},
		{args: `{"expression": "-2^2"}`, want: `{"expression":"-2^2","result":-4}`},
		{args: `{"expression": "10^20"}`, want: `{"expression":"10^20","result":1e+20}`},
	}
	for _, tt := range tests {
		got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
		if err != nil {
			t.Errorf("Call(%s): %v", tt.args, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Call(%s) = %s, want %s", tt.args, got, tt.want)
		}
	}

	errorCases := []struct {
		args string
		want string
	}{
		{args: `{"expression": "1/0"}`, want: "division by zero"},
		{args: `{}`, want: "expression"},
		{args: `{"expression": 42}`, want: "expression"},
		{args: `{"expression": "1", "code": "import os"}`, want: "code"},
	}
	for _, tt := range errorCases {
		got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
		if err == nil {
			t.Errorf("Call(%s) = %s, nil; want an error", tt.args, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Call(%s) error %q does not contain %q", tt.args, err, tt.want)
		}
	}
}

func FuzzCalculate(f *testing.F) {
	seeds := []string{
		"6*7", "-2^2", "2^3^2", "2**-1", "(1+2)*3", "sqrt(2)", "pi*e", "1e3", ".5e-3",
		"1/0", "5%0", "2^10000", "1e309", "sqrt(-1)", "ln(0)", "((((", "1+2)",
		"__import__('os')", "٣", "1\x002", "abs(floor(-2.5))", "--+-1", "0^-1",
		strings.Repeat("(", 70) + "1" + strings.Repeat(")", 70),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		x, err := evaluate(expr)
		if err != nil {
			return
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("evaluate(%q) = %v, nil; want a finite number", expr, x)
		}
		if !json.Valid([]byte(formatNumber(x))) {
			t.Fatalf("formatNumber(%v) = %q is not a JSON number", x, formatNumber(x))
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	const expr = "sqrt(2^10 + 3*(4 - 1.5e2)/7) % 13 - -pi"
	for b.Loop() {
		if _, err := evaluate(expr); err != nil {
			b.Fatal(err)
		}
	}
}
