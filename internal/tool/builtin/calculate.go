package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omniserve/omniserve/internal/tool"
)

// calculateDescription is what the model reads about calculate.
const calculateDescription = "Evaluate an arithmetic expression and return its numeric result. " +
	"Supports numbers (1, 2.5, 1e3), + - * / % (remainder), ^ or ** (power), unary minus, parentheses, " +
	"the constants pi and e, and the functions sqrt, abs, floor, ceil, round, exp, ln (natural log), " +
	"log (base 10), log2, sin, cos and tan (radians)."

// Limits on calculate's input, so hostile expressions cost little. They are
// checked before and while parsing, so no work is wasted past them.
const (
	// maxExpressionBytes caps the expression's length.
	maxExpressionBytes = 1000
	// maxTokens caps the number of tokens (numbers, names, operators and
	// parentheses).
	maxTokens = 256
	// maxDepth caps nesting: parentheses, function calls, unary signs and
	// exponents together.
	maxDepth = 64
)

// Evaluation errors. The model reads their text, so each names the problem
// plainly; the wrapping errors add the offending token and its position.
var (
	errEmpty         = errors.New("empty expression")
	errTooLong       = fmt.Errorf("expression longer than %d bytes", maxExpressionBytes)
	errTooManyTokens = fmt.Errorf("expression has more than %d tokens", maxTokens)
	errTooDeep       = fmt.Errorf("expression nested deeper than %d levels", maxDepth)
	errUnexpected    = errors.New("unexpected input")
	errUnbalanced    = errors.New("unbalanced parentheses")
	errUnknownName   = errors.New("unknown identifier")
	errNumber        = errors.New("invalid number")
	errDivByZero     = errors.New("division by zero")
	errModByZero     = errors.New("modulo by zero")
	errDomain        = errors.New("math domain error")
	errOverflow      = errors.New("result overflows")
	errUndefined     = errors.New("result is undefined")
)

// calculateArgs are calculate's arguments.
type calculateArgs struct {
	Expression string `json:"expression" jsonschema:"the arithmetic expression to evaluate, e.g. (2 + 3) * 4 or sqrt(2)"`
}

// calculateResult is calculate's answer.
type calculateResult struct {
	Expression string      `json:"expression"`
	Result     json.Number `json:"result"`
}

// newCalculate returns the calculate tool.
func newCalculate() (tool.Tool, error) {
	return tool.Func("calculate", calculateDescription,
		func(_ context.Context, a calculateArgs) (calculateResult, error) {
			x, err := evaluate(a.Expression)
			if err != nil {
				return calculateResult{}, err
			}
			return calculateResult{Expression: a.Expression, Result: json.Number(formatNumber(x))}, nil
		})
}

// maxExactInteger is the largest magnitude up to which every integer is an
// exact float64; integral results up to it are printed as plain integers.
const maxExactInteger = 1 << 53

// formatNumber renders x, which is finite, as a JSON number: an integer
// without fraction or exponent when x is an exact integer up to
// [maxExactInteger] in magnitude, otherwise the shortest form that reads
// back as x.
func formatNumber(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) <= maxExactInteger {
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// constants are the named values an expression may use (case-insensitive).
var constants = map[string]float64{
	"pi": math.Pi,
	"e":  math.E,
}

// functions are the one-argument functions an expression may call
// (case-insensitive).
var functions = map[string]func(float64) (float64, error){
	"sqrt": func(x float64) (float64, error) {
		if x < 0 {
			return 0, fmt.Errorf("%w: sqrt of a negative number", errDomain)
		}
		return math.Sqrt(x), nil
	},
	"abs":   plain(math.Abs),
	"floor": plain(math.Floor),
	"ceil":  plain(math.Ceil),
	"round": plain(math.Round),
	"exp":   plain(math.Exp),
	"ln":    logarithm("ln", math.Log),
	"log":   logarithm("log", math.Log10),
	"log2":  logarithm("log2", math.Log2),
	"sin":   plain(math.Sin),
	"cos":   plain(math.Cos),
	"tan":   plain(math.Tan),
}

// plain adapts a function defined for every finite number.
func plain(f func(float64) float64) func(float64) (float64, error) {
	return func(x float64) (float64, error) { return f(x), nil }
}

// logarithm adapts a logarithm, rejecting arguments that are not positive.
func logarithm(name string, f func(float64) float64) func(float64) (float64, error) {
	return func(x float64) (float64, error) {
		if x <= 0 {
			return 0, fmt.Errorf("%w: %s of a number that is not positive", errDomain, name)
		}
		return f(x), nil
	}
}

// knownNames lists the constants and functions for error messages.
func knownNames() string {
	consts := make([]string, 0, len(constants))
	for name := range constants {
		consts = append(consts, name)
	}
	funcs := make([]string, 0, len(functions))
	for name := range functions {
		funcs = append(funcs, name)
	}
	slices.Sort(consts)
	slices.Sort(funcs)
	return "constants " + strings.Join(consts, ", ") + "; functions " + strings.Join(funcs, ", ")
}

// evaluate computes the value of expr, an arithmetic expression.
//
// The grammar, lowest precedence first (^ is right-associative and binds
// tighter than a sign, so -2^2 is -4 and 2^-1 is 0.5):
//
//	expr    = term { ("+" | "-") term }
//	term    = unary { ("*" | "/" | "%") unary }
//	unary   = ("+" | "-") unary | power
//	power   = primary [ ("^" | "**") unary ]
//	primary = number | constant | function "(" expr ")" | "(" expr ")"
//
// Numbers are ASCII decimals with an optional fraction and exponent. Every
// intermediate result must be finite, so 1/(2^10000) is an overflow rather
// than zero.
func evaluate(expr string) (float64, error) {
	if len(expr) > maxExpressionBytes {
		return 0, errTooLong
	}
	if strings.TrimSpace(expr) == "" {
		return 0, errEmpty
	}
	p := &parser{lex: lexer{src: expr}}
	if err := p.advance(); err != nil {
		return 0, err
	}
	x, err := p.expr()
	if err != nil {
		return 0, err
	}
	switch p.tok.kind {
	case tokEOF:
		return x, nil
	case tokRParen:
		return 0, fmt.Errorf("%w: unexpected %q at position %d", errUnbalanced, p.tok.text, p.tok.pos)
	default:
		return 0, fmt.Errorf("%w: %q at position %d after a complete expression", errUnexpected, p.tok.text, p.tok.pos)
	}
}

// tokenKind classifies a token.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokNumber
	tokName
	tokOp // + - * / % ^ (with ** read as ^)
	tokLParen
	tokRParen
)

// token is one lexical unit; pos is its 1-based byte position.
type token struct {
	kind tokenKind
	text string
	num  float64
	pos  int
}

// lexer splits an expression into tokens on demand, so an error names the
// first problem from the left.
type lexer struct {
	src   string
	i     int
	count int
}

// next returns the next token, or a tokEOF token at the end.
func (l *lexer) next() (token, error) {
	for l.i < len(l.src) && isSpace(l.src[l.i]) {
		l.i++
	}
	if l.i == len(l.src) {
		return token{kind: tokEOF, text: "end of expression", pos: l.i + 1}, nil
	}
	l.count++
	if l.count > maxTokens {
		return token{}, errTooManyTokens
	}
	start := l.i
	c := l.src[l.i]
	switch {
	case isDigit(c) || (c == '.' && l.i+1 < len(l.src) && isDigit(l.src[l.i+1])):
		return l.number()
	case isLetter(c):
		for l.i < len(l.src) && (isLetter(l.src[l.i]) || isDigit(l.src[l.i])) {
			l.i++
		}
		return token{kind: tokName, text: l.src[start:l.i], pos: start + 1}, nil
	case strings.HasPrefix(l.src[l.i:], "**"):
		l.i += 2
		return token{kind: tokOp, text: "^", pos: start + 1}, nil
	case strings.IndexByte("+-*/%^", c) >= 0:
		l.i++
		return token{kind: tokOp, text: string(c), pos: start + 1}, nil
	case c == '(':
		l.i++
		return token{kind: tokLParen, text: "(", pos: start + 1}, nil
	case c == ')':
		l.i++
		return token{kind: tokRParen, text: ")", pos: start + 1}, nil
	default:
		r, _ := utf8.DecodeRuneInString(l.src[l.i:])
		return token{}, fmt.Errorf("%w: character %q at position %d", errUnexpected, r, start+1)
	}
}

// number reads a decimal number with an optional fraction and exponent.
func (l *lexer) number() (token, error) {
	start := l.i
	l.digits()
	if l.i < len(l.src) && l.src[l.i] == '.' {
		l.i++
		l.digits()
	}
	if l.i < len(l.src) && (l.src[l.i] == 'e' || l.src[l.i] == 'E') {
		j := l.i + 1
		if j < len(l.src) && (l.src[j] == '+' || l.src[j] == '-') {
			j++
		}
		// Without digits the e is not an exponent; the parser then rejects
		// it as an unexpected name rather than guessing.
		if j < len(l.src) && isDigit(l.src[j]) {
			l.i = j
			l.digits()
		}
	}
	text := l.src[start:l.i]
	x, err := strconv.ParseFloat(text, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && math.IsInf(x, 0) {
			return token{}, fmt.Errorf("%w: number %s at position %d is too large", errOverflow, text, start+1)
		}
		return token{}, fmt.Errorf("%w %s at position %d", errNumber, text, start+1)
	}
	return token{kind: tokNumber, text: text, num: x, pos: start + 1}, nil
}

// digits skips ASCII digits.
func (l *lexer) digits() {
	for l.i < len(l.src) && isDigit(l.src[l.i]) {
		l.i++
	}
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

// parser is a recursive-descent evaluator over a lexer; tok is the current,
// not yet consumed, token.
type parser struct {
	lex   lexer
	tok   token
	depth int
	// open counts the parentheses opened and not yet closed.
	open int
}

// advance moves to the next token.
func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// isOp reports whether the current token is one of the operators in ops.
func (p *parser) isOp(ops ...string) bool {
	return p.tok.kind == tokOp && slices.Contains(ops, p.tok.text)
}

func (p *parser) expr() (float64, error) {
	x, err := p.term()
	if err != nil {
		return 0, err
	}
	for p.isOp("+", "-") {
		op := p.tok.text
		if err := p.advance(); err != nil {
			return 0, err
		}
		y, err := p.term()
		if err != nil {
			return 0, err
		}
		if op == "+" {
			x += y
		} else {
			x -= y
		}
		if err := checkFinite(x); err != nil {
			return 0, err
		}
	}
	return x, nil
}

func (p *parser) term() (float64, error) {
	x, err := p.unary()
	if err != nil {
		return 0, err
	}
	for p.isOp("*", "/", "%") {
		op := p.tok.text
		if err := p.advance(); err != nil {
			return 0, err
		}
		y, err := p.unary()
		if err != nil {
			return 0, err
		}
		switch op {
		case "*":
			x *= y
		case "/":
			if y == 0 {
				return 0, errDivByZero
			}
			x /= y
		case "%":
			if y == 0 {
				return 0, errModByZero
			}
			x = math.Mod(x, y)
		}
		if err := checkFinite(x); err != nil {
			return 0, err
		}
	}
	return x, nil
}

// unary is where every nesting (group, call, sign, exponent) recurses, so
// it is where depth is counted.
func (p *parser) unary() (float64, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return 0, errTooDeep
	}
	if p.isOp("+", "-") {
		neg := p.tok.text == "-"
		if err := p.advance(); err != nil {
			return 0, err
		}
		x, err := p.unary()
		if err != nil {
			return 0, err
		}
		if neg {
			x = -x
		}
		return x, nil
	}
	return p.power()
}

func (p *parser) power() (float64, error) {
	base, err := p.primary()
	if err != nil {
		return 0, err
	}
	if !p.isOp("^") {
		return base, nil
	}
	if err := p.advance(); err != nil {
		return 0, err
	}
	// The exponent is a unary, so 2^-1 works and 2^3^2 is 2^(3^2).
	exp, err := p.unary()
	if err != nil {
		return 0, err
	}
	if base == 0 && exp < 0 {
		return 0, errDivByZero
	}
	x := math.Pow(base, exp)
	if err := checkFinite(x); err != nil {
		return 0, err
	}
	return x, nil
}

func (p *parser) primary() (float64, error) {
	t := p.tok
	switch t.kind {
	case tokNumber:
		return t.num, p.advance()
	case tokLParen:
		if err := p.advance(); err != nil {
			return 0, err
		}
		return p.closeGroup(t)
	case tokName:
		return p.name(t)
	case tokRParen:
		return 0, fmt.Errorf("%w: unexpected %q at position %d", errUnbalanced, t.text, t.pos)
	case tokEOF:
		if p.open > 0 {
			return 0, fmt.Errorf("%w: expression ends inside %d open parentheses", errUnbalanced, p.open)
		}
		return 0, fmt.Errorf("%w: expression ends where a number was expected", errUnexpected)
	default:
		return 0, fmt.Errorf("%w: operator %q at position %d where a number was expected", errUnexpected, t.text, t.pos)
	}
}

// name evaluates a constant or a function call starting at t, the current
// token. Unknown names are rejected before anything after them is read.
func (p *parser) name(t token) (float64, error) {
	key := strings.ToLower(t.text)
	f, isFunc := functions[key]
	c, isConst := constants[key]
	if !isFunc && !isConst {
		return 0, fmt.Errorf("%w %q at position %d; known: %s", errUnknownName, t.text, t.pos, knownNames())
	}
	if err := p.advance(); err != nil {
		return 0, err
	}
	if isConst {
		return c, nil
	}
	if p.tok.kind != tokLParen {
		return 0, fmt.Errorf("%w: function %s at position %d needs an argument in parentheses", errUnexpected, t.text, t.pos)
	}
	open := p.tok
	if err := p.advance(); err != nil {
		return 0, err
	}
	arg, err := p.closeGroup(open)
	if err != nil {
		return 0, err
	}
	x, err := f(arg)
	if err != nil {
		return 0, err
	}
	if err := checkFinite(x); err != nil {
		return 0, err
	}
	return x, nil
}

// closeGroup parses the expression inside the parenthesis open, already
// consumed, and the parenthesis that closes it.
func (p *parser) closeGroup(open token) (float64, error) {
	p.open++
	x, err := p.expr()
	if err != nil {
		return 0, err
	}
	p.open--
	if p.tok.kind != tokRParen {
		if p.tok.kind == tokEOF {
			return 0, fmt.Errorf("%w: %q at position %d is never closed", errUnbalanced, open.text, open.pos)
		}
		return 0, fmt.Errorf("%w: %q at position %d where %q was expected", errUnexpected, p.tok.text, p.tok.pos, ")")
	}
	return x, p.advance()
}

// checkFinite rejects infinities and NaN.
func checkFinite(x float64) error {
	switch {
	case math.IsNaN(x):
		return errUndefined
	case math.IsInf(x, 0):
		return errOverflow
	}
	return nil
}
