package dnsbl

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxCell bounds the bytes of one table cell.
const maxCell = 1024

// WriteTable writes results as an aligned plain-text table with the
// columns IP, LIST, STATUS (listed, clean, refused or error), DETAIL (the
// codes and their meanings, or the error) and TXT (the TXT records, joined
// with " | "). Control characters in cells are replaced by '?', and lines
// carry no trailing spaces.
func WriteTable(w io.Writer, results []Result) error {
	rows := make([][]string, 0, len(results)+1)
	rows = append(rows, []string{"IP", "LIST", "STATUS", "DETAIL", "TXT"})
	for i := range results {
		r := &results[i]
		ip := "invalid"
		if r.IP.IsValid() {
			ip = r.IP.String()
		}
		list := r.List
		if list == "" {
			list = "-"
		}
		rows = append(rows, []string{ip, list, r.Status(), detail(r), strings.Join(r.TXT, " | ")})
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for j := range row {
			row[j], _ = cleanText(row[j], maxCell)
			widths[j] = max(widths[j], utf8.RuneCountInString(row[j]))
		}
	}
	bw := bufio.NewWriter(w)
	var line strings.Builder
	for _, row := range rows {
		line.Reset()
		for j, cell := range row {
			line.WriteString(cell)
			if j < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(cell)+2))
			}
		}
		if _, err := bw.WriteString(strings.TrimRight(line.String(), " ") + "\n"); err != nil {
			return fmt.Errorf("dnsbl: write table: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dnsbl: write table: %w", err)
	}
	return nil
}

// detail returns the DETAIL cell of r.
func detail(r *Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	if len(r.Codes) == 0 {
		return "-"
	}
	parts := make([]string, len(r.Codes))
	for i, c := range r.Codes {
		parts[i] = c.String()
		if i < len(r.Meanings) && r.Meanings[i] != "" {
			parts[i] += " (" + r.Meanings[i] + ")"
		}
	}
	return strings.Join(parts, ", ")
}
