package deploy

import (
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// The ClickHouse accounts of the compose stack.
const (
	// rolesFile is relative to docker-compose.yml; rolesPath to this
	// package.
	rolesFile         = "deploy/clickhouse/users.d/mxwatch-roles.xml"
	rolesPath         = "clickhouse/users.d/mxwatch-roles.xml"
	writerUser        = "mxwatch_writer"
	readerUser        = "mxwatch_reader"
	writerPasswordVar = "CLICKHOUSE_WRITER_PASSWORD"
	readerPasswordVar = "CLICKHOUSE_READER_PASSWORD"
)

// xnode is a generic XML element.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xnode    `xml:",any"`
}

func (n *xnode) child(name string) *xnode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xnode) path(names ...string) *xnode {
	for _, name := range names {
		if n = n.child(name); n == nil {
			return nil
		}
	}
	return n
}

func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// checkAccounts returns what is wrong with an accounts file.
func checkAccounts(data []byte) []string {
	var root xnode
	if err := xml.Unmarshal(data, &root); err != nil {
		return []string{"parse: " + err.Error()}
	}
	var p []string
	if root.XMLName.Local != "clickhouse" {
		p = append(p, fmt.Sprintf("root element <%s>, want <clickhouse>", root.XMLName.Local))
	}
	for _, acc := range []struct {
		user, pwVar string
		settings    map[string]string // profile setting -> value
	}{
		{writerUser, writerPasswordVar, map[string]string{"readonly": "0", "allow_ddl": "0"}},
		{readerUser, readerPasswordVar, map[string]string{"readonly": "1", "allow_ddl": "0"}},
	} {
		u := root.path("users", acc.user)
		if u == nil {
			p = append(p, "no user "+acc.user)
			continue
		}
		if pw := u.child("password"); pw == nil || pw.attr("from_env") != acc.pwVar || strings.TrimSpace(pw.Text) != "" {
			p = append(p, fmt.Sprintf("%s: password must come from_env %s, and nothing else", acc.user, acc.pwVar))
		}
		for _, n := range u.Nodes {
			if strings.HasPrefix(n.XMLName.Local, "password_") {
				p = append(p, fmt.Sprintf("%s: <%s> puts a password (hash) in the repository", acc.user, n.XMLName.Local))
			}
		}
		var dbs []string
		if a := u.child("allow_databases"); a != nil {
			for _, d := range a.Nodes {
				if e := d.attr("from_env"); e != "" {
					dbs = append(dbs, "$"+e)
				} else {
					dbs = append(dbs, strings.TrimSpace(d.Text))
				}
			}
		}
		slices.Sort(dbs)
		if !slices.Equal(dbs, []string{"$CLICKHOUSE_DB", "default"}) {
			p = append(p, fmt.Sprintf("%s: allow_databases %v, want [$CLICKHOUSE_DB default]", acc.user, dbs))
		}
		prof := ""
		if n := u.child("profile"); n != nil {
			prof = strings.TrimSpace(n.Text)
		}
		pn := root.path("profiles", prof)
		if pn == nil {
			p = append(p, fmt.Sprintf("%s: profile %q is not defined in the file", acc.user, prof))
			continue
		}
		for k, v := range acc.settings {
			if n := pn.child(k); n == nil || strings.TrimSpace(n.Text) != v {
				p = append(p, fmt.Sprintf("%s: profile %s: %s is not %s", acc.user, prof, k, v))
			}
		}
	}
	return p
}

// TestClickHouseAccounts checks the accounts file the compose stack mounts
// into ClickHouse: the writer may not run DDL, the reader may only read,
// both are limited to the mxwatch database, and no password is in it. What
// each account may do is tested against a real (18.16) server in
// sink/clickhouse (TestRolesOn1816), with this very file.
func TestClickHouseAccounts(t *testing.T) {
	data, err := os.ReadFile(rolesPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkAccounts(data) {
		t.Error(p)
	}
	if !strings.Contains(string(data), "<changeable_in_readonly/>") {
		t.Error("the reader's profile does not let Grafana's plugin set max_execution_time")
	}
	// Each check can fail.
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{name: "writer may run DDL", old: "<allow_ddl>0</allow_ddl>\n    </mxwatch_writer>", new: "<allow_ddl>1</allow_ddl>\n    </mxwatch_writer>", want: "allow_ddl is not 0"},
		{name: "reader may write", old: "<readonly>1</readonly>", new: "<readonly>0</readonly>", want: "readonly is not 1"},
		{name: "password in the file", old: `<password from_env="CLICKHOUSE_READER_PASSWORD"/>`, new: "<password>x</password>", want: "from_env CLICKHOUSE_READER_PASSWORD"},
		{name: "any database", old: "<database>default</database>\n      </allow_databases>\n    </mxwatch_reader>", new: "<database>default</database><database>system</database>\n      </allow_databases>\n    </mxwatch_reader>", want: "allow_databases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(data), tc.old) {
				t.Fatalf("file no longer contains %q: update this case", tc.old)
			}
			got := checkAccounts([]byte(strings.Replace(string(data), tc.old, tc.new, 1)))
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q: %q", tc.want, got)
		})
	}
}
