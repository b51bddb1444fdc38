package smtp

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// Credentials used by the AUTH transcripts; none of them may appear in
// any output.
const (
	secretUser = "u5er-kq7"
	secretPass = "p4ss-w0rd-zz9"
)

var (
	plainCred = base64.StdEncoding.EncodeToString([]byte("\x00" + secretUser + "\x00" + secretPass))
	userCred  = base64.StdEncoding.EncodeToString([]byte(secretUser))
	passCred  = base64.StdEncoding.EncodeToString([]byte(secretPass))
)

// TestCredentialsNeverStored marshals the session, messages and stats of
// every AUTH transcript, fed whole and byte by byte, and looks for the
// credentials, encoded and decoded.
func TestCredentialsNeverStored(t *testing.T) {
	secrets := []string{plainCred, userCred, passCred, secretUser, secretPass}
	n := 0
	for _, tc := range transcripts() {
		if !strings.Contains(tc.name, "auth") {
			continue
		}
		n++
		for _, split := range []splitter{whole, byteByByte, randomSplits(3)} {
			r := run(t, tc.config(), tc.opt, tc.steps, split)
			b, err := json.Marshal(struct {
				S any
				M any
				T any
			}{r.sess, r.msgs, r.stats})
			if err != nil {
				t.Fatal(err)
			}
			if r.sess.Auth == nil {
				t.Errorf("%s: no auth recorded", tc.name)
			}
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Errorf("%s: output contains credential %q:\n%s", tc.name, s, b)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d auth transcripts", n)
	}
}
