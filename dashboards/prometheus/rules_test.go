// Package prometheus holds the Prometheus alert rules for mxwatch's own
// health (mxwatch-rules.yml); this test checks them with promtool.
package prometheus

import (
	"os/exec"
	"testing"
)

// TestRules runs `promtool check rules` and the rule unit tests in
// testdata/rules_test.yml (alerts fire on trouble, stay quiet otherwise).
// promtool comes with Debian's prometheus package.
func TestRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus); the rules are not checked")
	}
	for _, args := range [][]string{
		{"check", "rules", "mxwatch-rules.yml"},
		{"test", "rules", "testdata/rules_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		} else {
			t.Logf("promtool %v:\n%s", args, out)
		}
	}
}
