package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		kind     ErrorKind
		code     int32
		inString []string // in the InsertError's message
	}{
		{name: "no such column", err: &clickhouse.Exception{Code: 16, Message: "No such column qtype in table dns_answers"},
			kind: KindSchema, code: 16, inString: []string{"code 16 NO_SUCH_COLUMN_IN_TABLE", "mxwatch migrate", "qtype"}},
		{name: "unknown table, wrapped", err: fmt.Errorf("send: %w", &clickhouse.Exception{Code: 60, Message: "Table x doesn't exist."}),
			kind: KindSchema, code: 60, inString: []string{"UNKNOWN_TABLE", "mxwatch migrate"}},
		{name: "type mismatch", err: &clickhouse.Exception{Code: 53}, kind: KindSchema, code: 53},
		{name: "driver conversion", err: &column.ColumnConverterError{Op: "AppendRow", To: "DateTime", From: "uint16"}, kind: KindSchema},
		{name: "readonly account", err: &clickhouse.Exception{Code: 164, Message: "Cannot execute query in readonly mode"},
			kind: KindAccess, code: 164, inString: []string{"READONLY", "clickhouse.user"}},
		{name: "access denied", err: &clickhouse.Exception{Code: 497}, kind: KindAccess, code: 497},
		{name: "wrong password", err: &clickhouse.Exception{Code: 516}, kind: KindAccess, code: 516},
		{name: "too many parts", err: &clickhouse.Exception{Code: 252}, kind: KindServer, code: 252, inString: []string{"code 252"}},
		{name: "connection refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, kind: KindUnavailable},
		{name: "eof", err: fmt.Errorf("read: %w", io.EOF), kind: KindUnavailable},
		{name: "deadline", err: context.DeadlineExceeded, kind: KindUnavailable},
		{name: "other", err: errors.New("something"), kind: KindServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, code := Classify(tc.err)
			if kind != tc.kind || code != tc.code {
				t.Errorf("Classify = %s, %d; want %s, %d", kind, code, tc.kind, tc.code)
			}
			ie := &InsertError{Table: "dns_answers", Kind: kind, Code: code, Err: tc.err}
			if !errors.Is(ie, tc.err) || ie.ErrorKind() != string(tc.kind) {
				t.Errorf("InsertError does not unwrap to its cause or has kind %q", ie.ErrorKind())
			}
			for _, s := range tc.inString {
				if !strings.Contains(ie.Error(), s) {
					t.Errorf("%q lacks %q", ie.Error(), s)
				}
			}
			if kind != KindSchema && strings.Contains(ie.Error(), "migrate") {
				t.Errorf("%q advises a migration for a %s error", ie.Error(), kind)
			}
		})
	}
	if k, c := Classify(nil); k != "" || c != 0 {
		t.Errorf("Classify(nil) = %q, %d", k, c)
	}
}
