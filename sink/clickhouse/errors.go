package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// ErrorKind classifies why ClickHouse did not take an insert, so that an
// operator (and a metric label) can tell a schema problem from an outage.
type ErrorKind string

// Kinds of insert errors.
const (
	// KindSchema: a table or column is missing or has another type than
	// the writer sends (the schema was changed by hand, or migrations did
	// not run). Retrying cannot help until the schema is repaired.
	KindSchema ErrorKind = "schema"
	// KindAccess: the account may not log in or may not insert.
	KindAccess ErrorKind = "access"
	// KindUnavailable: the server could not be reached or the connection
	// broke; it usually passes.
	KindUnavailable ErrorKind = "unavailable"
	// KindServer: any other server or driver error (too many parts,
	// memory limit, ...).
	KindServer ErrorKind = "server"
)

// ClickHouse server error codes (ErrorCodes.cpp) that mean the schema does
// not match what the writer sends, or that the account lacks a right.
var (
	schemaCodes = map[int32]string{
		8:  "THERE_IS_NO_COLUMN",
		10: "NOT_FOUND_COLUMN_IN_BLOCK",
		16: "NO_SUCH_COLUMN_IN_TABLE",
		20: "NUMBER_OF_COLUMNS_DOESNT_MATCH",
		44: "ILLEGAL_COLUMN",
		47: "UNKNOWN_IDENTIFIER",
		53: "TYPE_MISMATCH",
		60: "UNKNOWN_TABLE",
		70: "CANNOT_CONVERT_TYPE",
		81: "UNKNOWN_DATABASE",
	}
	accessCodes = map[int32]string{
		164: "READONLY",
		192: "UNKNOWN_USER",
		193: "WRONG_PASSWORD",
		195: "IP_ADDRESS_NOT_ALLOWED",
		291: "DATABASE_ACCESS_DENIED",
		392: "QUERY_IS_PROHIBITED",
		497: "ACCESS_DENIED",
		516: "AUTHENTICATION_FAILED",
	}
)

// Classify returns the kind of an error from the driver and the ClickHouse
// error code it carries (0 when it carries none). A value the driver cannot
// convert to its column's type is a schema error: the column's type is not
// the one the migrations create.
func Classify(err error) (ErrorKind, int32) {
	if err == nil {
		return "", 0
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch {
		case schemaCodes[ex.Code] != "":
			return KindSchema, ex.Code
		case accessCodes[ex.Code] != "":
			return KindAccess, ex.Code
		}
		return KindServer, ex.Code
	}
	var conv *column.ColumnConverterError
	if errors.As(err, &conv) || strings.Contains(err.Error(), "converting") && strings.Contains(err.Error(), "unsupported") {
		return KindSchema, 0
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clickhouse.ErrAcquireConnTimeout) {
		return KindUnavailable, 0
	}
	return KindServer, 0
}

// InsertError is what Writer.Insert returns when a table did not take its
// batch. Its message names the table, the kind, ClickHouse's code and
// message, and what to do about it.
type InsertError struct {
	// Table is the table the batch was for.
	Table string
	// Kind classifies the failure (see Classify).
	Kind ErrorKind
	// Code is ClickHouse's error code, 0 when the error did not come
	// from the server.
	Code int32
	// Err is the driver's error.
	Err error
}

// Error implements error.
func (e *InsertError) Error() string {
	code := ""
	if e.Code != 0 {
		name := schemaCodes[e.Code]
		if name == "" {
			name = accessCodes[e.Code]
		}
		code = fmt.Sprintf(" (ClickHouse code %d %s)", e.Code, name)
	}
	msg := fmt.Sprintf("clickhouse: insert into %s: %s error%s: %v", e.Table, e.Kind, code, e.Err)
	switch e.Kind {
	case KindSchema:
		msg += "; the table's schema does not match what mxwatch writes: run `mxwatch migrate`, or undo the manual schema change (the batch is kept and retried, nothing is committed)"
	case KindAccess:
		msg += "; check the sink's ClickHouse account (clickhouse.user) and its grants: it needs INSERT and SELECT on the database"
	}
	return msg
}

// Unwrap returns the driver's error.
func (e *InsertError) Unwrap() error { return e.Err }

// ErrorKind returns the kind as a string, for callers that count errors
// by kind without importing this package (sink/ingest).
func (e *InsertError) ErrorKind() string { return string(e.Kind) }
