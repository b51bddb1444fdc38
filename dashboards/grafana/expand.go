package grafana

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Vars are the values Expand substitutes: the dashboard's time range,
// the interval in seconds and the template variables' values.
type Vars struct {
	From, To  time.Time
	IntervalS int
	// Values maps a variable name (without $) to its selected values; an
	// empty list or the single value "$__all" means "All".
	Values map[string][]string
}

// maxMacroDepth bounds nested macro arguments ($__conditionalAll whose
// condition holds macros).
const maxMacroDepth = 8

// Expand replaces the ClickHouse plugin's macros and Grafana's template
// variables in sql with literal SQL that ClickHouse 18.16 accepts:
//
//	$__timeFilter(c), $__timeFilter_ms(c)  c >= toDateTime(from) AND c <= toDateTime(to)
//	$__fromTime, $__fromTime_ms            toDateTime(from) (likewise $__toTime)
//	$__interval_s                          the interval in seconds (at least 1)
//	$__timeInterval(c), $__timeInterval_ms(c)
//	                                       toDateTime(intDiv(toUInt32(c), n) * n)
//	$__dateFilter(c)                       c >= toDate('from') AND c <= toDate('to')
//	$__dateTimeFilter(d, t)                date filter on d AND time filter on t
//	$__conditionalAll(cond, $v)            cond, or 1=1 when $v is All
//
// ClickHouse 18.16 has neither DateTime64 nor toStartOfInterval, so the
// _ms variants work at second resolution and intervals use intDiv (the
// plugin itself emits toStartOfInterval for $__timeInterval, so the
// dashboards use the intDiv form with $__interval_s directly).
//
// Variables ($v, ${v}, ${v:singlequote}, ${v:raw}, ${v:csv}, '$v') take
// their values from v.Values; values are escaped for single-quoted SQL
// literals. A single value is substituted as is, several are joined as
// 'a','b' (or a,b for :csv and :raw). An unknown macro or variable is an
// error naming it.
func Expand(sql string, v Vars) (string, error) {
	return expand(sql, v, 0)
}

func expand(sql string, v Vars, depth int) (string, error) {
	if depth > maxMacroDepth {
		return "", fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxMacroDepth)
	}
	var b strings.Builder
	for i := 0; i < len(sql); {
		c := sql[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		rest := sql[i+1:]
		switch {
		case strings.HasPrefix(rest, "__"):
			n := identLen(rest)
			name := rest[:n]
			after := rest[n:]
			if strings.HasPrefix(after, "(") {
				args, end, err := splitArgs(after)
				if err != nil {
					return "", fmt.Errorf("$%s: %w", name, err)
				}
				out, err := callMacro(name, args, v, depth)
				if err != nil {
					return "", err
				}
				b.WriteString(out)
				i += 1 + n + end
				continue
			}
			out, err := valueMacro(name, v)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += 1 + n
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("%w: unterminated ${ at offset %d", ErrSyntax, i)
			}
			name, format, _ := strings.Cut(rest[1:end], ":")
			out, err := variable(name, format, v)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += 2 + end
		default:
			n := identLen(rest)
			if n == 0 || rest[0] >= '0' && rest[0] <= '9' {
				b.WriteByte('$')
				i++
				continue
			}
			out, err := variable(rest[:n], "", v)
			if err != nil {
				return "", err
			}
			b.WriteString(out)
			i += 1 + n
		}
	}
	return b.String(), nil
}

func identLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			n++
			continue
		}
		break
	}
	return n
}

// splitArgs parses "(a, b(c, d), 'x,y')" at the start of s and returns
// the trimmed top-level arguments and the offset just past ")".
func splitArgs(s string) ([]string, int, error) {
	depth := 0
	var quote byte
	var args []string
	start := 1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			switch {
			case c == '\\' && i+1 < len(s):
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote = c
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				args = append(args, strings.TrimSpace(s[start:i]))
				if len(args) == 1 && args[0] == "" {
					args = nil
				}
				return args, i + 1, nil
			}
		case ',':
			if depth == 1 {
				args = append(args, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return nil, 0, fmt.Errorf("%w: unbalanced parentheses", ErrSyntax)
}

func interval(v Vars) int {
	if v.IntervalS < 1 {
		return 1
	}
	return v.IntervalS
}

func dateTime(t time.Time) string { return "toDateTime(" + strconv.FormatInt(t.Unix(), 10) + ")" }

func date(t time.Time) string { return "toDate('" + t.UTC().Format(time.DateOnly) + "')" }

func valueMacro(name string, v Vars) (string, error) {
	switch name {
	case "__fromTime", "__fromTime_ms":
		return dateTime(v.From), nil
	case "__toTime", "__toTime_ms":
		return dateTime(v.To), nil
	case "__interval_s":
		return strconv.Itoa(interval(v)), nil
	}
	return "", fmt.Errorf("%w: $%s", ErrUnknownMacro, name)
}

func callMacro(name string, args []string, v Vars, depth int) (string, error) {
	want := map[string]int{
		"__timeFilter": 1, "__timeFilter_ms": 1, "__timeInterval": 1, "__timeInterval_ms": 1,
		"__dateFilter": 1, "__dateTimeFilter": 2, "__conditionalAll": 2,
	}
	n, ok := want[name]
	if !ok {
		return "", fmt.Errorf("%w: $%s", ErrUnknownMacro, name)
	}
	if len(args) != n || slices.Contains(args, "") {
		return "", fmt.Errorf("%w: $%s takes %d argument(s), got %d", ErrSyntax, name, n, len(args))
	}
	// Arguments may hold variables or macros themselves.
	for i, a := range args {
		if name == "__conditionalAll" && i == 1 {
			continue
		}
		x, err := expand(a, v, depth+1)
		if err != nil {
			return "", err
		}
		args[i] = x
	}
	timeFilter := func(col string) string {
		return col + " >= " + dateTime(v.From) + " AND " + col + " <= " + dateTime(v.To)
	}
	dateFilter := func(col string) string {
		return col + " >= " + date(v.From) + " AND " + col + " <= " + date(v.To)
	}
	switch name {
	case "__timeFilter", "__timeFilter_ms":
		return timeFilter(args[0]), nil
	case "__timeInterval", "__timeInterval_ms":
		s := strconv.Itoa(interval(v))
		return "toDateTime(intDiv(toUInt32(" + args[0] + "), " + s + ") * " + s + ")", nil
	case "__dateFilter":
		return dateFilter(args[0]), nil
	case "__dateTimeFilter":
		return "(" + dateFilter(args[0]) + ") AND (" + timeFilter(args[1]) + ")", nil
	}
	// __conditionalAll: the second argument names the variable.
	ref := strings.TrimPrefix(args[1], "$")
	ref = strings.TrimSuffix(strings.TrimPrefix(ref, "{"), "}")
	ref, _, _ = strings.Cut(ref, ":")
	vals, ok := v.Values[ref]
	if !ok {
		return "", fmt.Errorf("%w: $%s", ErrUnknownVariable, ref)
	}
	if isAll(vals) {
		return "1=1", nil
	}
	return args[0], nil
}

func isAll(vals []string) bool {
	return len(vals) == 0 || len(vals) == 1 && vals[0] == "$__all"
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func variable(name, format string, v Vars) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty variable name", ErrSyntax)
	}
	vals, ok := v.Values[name]
	if !ok {
		return "", fmt.Errorf("%w: $%s", ErrUnknownVariable, name)
	}
	quoted := func() string {
		q := make([]string, len(vals))
		for i, s := range vals {
			q[i] = "'" + escape(s) + "'"
		}
		return strings.Join(q, ",")
	}
	switch format {
	case "singlequote":
		return quoted(), nil
	case "", "raw", "csv":
		if len(vals) == 1 || format != "" {
			e := make([]string, len(vals))
			for i, s := range vals {
				e[i] = escape(s)
			}
			return strings.Join(e, ","), nil
		}
		return quoted(), nil
	}
	return "", fmt.Errorf("%w: ${%s:%s}: unsupported format", ErrSyntax, name, format)
}
