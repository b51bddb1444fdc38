package pcapfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"go.uber.org/goleak"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

var errSource = errors.New("source failed")

// streamOp is one call on a stream: Peek, Discard or Read of n bytes.
type streamOp struct {
	kind byte // 'p', 'd', 'r'
	n    int
}

// checkStream runs ops on s and checks every result against the data the
// source holds and the error it ends with (io.EOF for a clean end), then
// closes s.
func checkStream(t testing.TB, s *stream, data []byte, end error, ops []streamOp) {
	t.Helper()
	defer s.Close()
	pos := 0
	for i, op := range ops {
		rest := data[pos:]
		switch op.kind {
		case 'p':
			b, err := s.Peek(op.n)
			switch {
			case op.n > s.Size():
				if !errors.Is(err, bufio.ErrBufferFull) || !bytes.HasPrefix(rest, b) {
					t.Fatalf("op %d: Peek(%d) over Size %d at %d: %d bytes, %v; want a prefix of the rest and ErrBufferFull", i, op.n, s.Size(), pos, len(b), err)
				}
			case op.n <= len(rest):
				if err != nil || !bytes.Equal(b, rest[:op.n]) {
					t.Fatalf("op %d: Peek(%d) at %d: %q, %v; want %q", i, op.n, pos, b, err, rest[:op.n])
				}
			default:
				if !errors.Is(err, end) || !bytes.Equal(b, rest) {
					t.Fatalf("op %d: Peek(%d) at %d of %d: %q, %v; want %q, %v", i, op.n, pos, len(data), b, err, rest, end)
				}
			}
		case 'd':
			n, err := s.Discard(op.n)
			want := min(op.n, len(rest))
			var wantErr error
			if op.n > len(rest) {
				wantErr = end
			}
			if n != want || !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
				t.Fatalf("op %d: Discard(%d) at %d of %d: %d, %v; want %d, %v", i, op.n, pos, len(data), n, err, want, wantErr)
			}
			pos += n
		case 'r':
			p := make([]byte, op.n)
			n, err := s.Read(p)
			switch {
			case op.n == 0:
				if n != 0 || err != nil {
					t.Fatalf("op %d: Read of 0 bytes: %d, %v", i, n, err)
				}
			case len(rest) == 0:
				if n != 0 || !errors.Is(err, end) {
					t.Fatalf("op %d: Read(%d) at the end: %d, %v; want 0, %v", i, op.n, n, err, end)
				}
			default:
				if err != nil || n < 1 || n > min(op.n, len(rest)) || !bytes.Equal(p[:n], rest[:n]) {
					t.Fatalf("op %d: Read(%d) at %d: %d, %v (%q); want 1 to %d bytes of %q", i, op.n, pos, n, err, p[:n], min(op.n, len(rest)), rest[:min(op.n, len(rest))])
				}
			}
			pos += n
		}
	}
}

// randomOps returns n calls with sizes around head, the largest Peek.
func randomOps(rng *rand.Rand, n, head int) []streamOp {
	ops := make([]streamOp, n)
	for i := range ops {
		ops[i] = streamOp{kind: "pdr"[rng.IntN(3)], n: rng.IntN(head + 3)}
	}
	return ops
}

// flakySource returns its data in random pieces, with empty reads in
// between, and then end.
type flakySource struct {
	data []byte
	rng  *rand.Rand
	end  error
}

func (f *flakySource) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.end
	}
	if f.rng.IntN(4) == 0 {
		return 0, nil
	}
	n := copy(p, f.data[:min(len(f.data), 1+f.rng.IntN(40))])
	f.data = f.data[n:]
	return n, nil
}

// TestStream holds the buffered stream, with and without read-ahead and
// with chunks smaller and larger than a Peek, to what its source holds:
// every Peek, Discard and Read returns the source's bytes in order, and its
// end or error after the last of them.
func TestStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	sources := []struct {
		name string
		end  error
		src  func(rng *rand.Rand) io.Reader
	}{
		{"whole", io.EOF, func(*rand.Rand) io.Reader { return bytes.NewReader(data) }},
		{"one byte", io.EOF, func(*rand.Rand) io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }},
		{"data with EOF", io.EOF, func(*rand.Rand) io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }},
		{"flaky", io.EOF, func(rng *rand.Rand) io.Reader { return &flakySource{data: data, rng: rng, end: io.EOF} }},
		{"fails", errSource, func(rng *rand.Rand) io.Reader { return &flakySource{data: data, rng: rng, end: errSource} }},
		{"fails at once", errSource, func(*rand.Rand) io.Reader { return iotest.ErrReader(errSource) }},
	}
	for _, mode := range []struct{ head, chunk int }{{16, 0}, {64, 0}, {16, 1}, {16, 7}, {32, 64}, {64, 5}, {300, 1024}} {
		for _, src := range sources {
			name := fmt.Sprintf("head %d chunk %d %s", mode.head, mode.chunk, src.name)
			t.Run(name, func(t *testing.T) {
				for seed := range uint64(20) {
					rng := rand.New(rand.NewPCG(seed, uint64(mode.head*1000+mode.chunk)))
					want := data
					if src.name == "fails at once" {
						want = nil
					}
					ops := randomOps(rng, 400, mode.head)
					// The source has a generator of its own: the
					// read-ahead goroutine calls it.
					s := newStream(src.src(rand.New(rand.NewPCG(seed, 99))), mode.head, mode.chunk)
					checkStream(t, s, want, src.end, ops)
				}
			})
		}
	}
}

// TestStreamNoProgress: a source that never returns anything is an error,
// not a hang.
func TestStreamNoProgress(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, chunk := range []int{0, 64} {
		s := newStream(eofReader{}, 16, chunk)
		if _, err := s.Peek(4); !errors.Is(err, io.ErrNoProgress) {
			t.Errorf("chunk %d: Peek on a source without progress: %v, want io.ErrNoProgress", chunk, err)
		}
		s.Close()
	}
}

// eofReader returns (0, nil): the empty reads of a broken source.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, nil }

// TestStreamCloseEarly: Close stops the read-ahead goroutine whatever it
// is doing: filling chunks, waiting for a free one, or done.
func TestStreamCloseEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	big := bytes.Repeat([]byte("x"), 10000)
	for _, read := range []int{0, 1, 500, 10000} {
		s := newStream(bytes.NewReader(big), 16, 64)
		if read > 0 {
			if n, err := s.Discard(read); n != read || err != nil {
				t.Fatalf("Discard(%d): %d, %v", read, n, err)
			}
		}
		s.Close()
		s.Close() // twice is harmless
	}
}

// FuzzStream: calls taken from the fuzzer's bytes, on a stream with
// read-ahead over a source that returns its data in pieces.
func FuzzStream(f *testing.F) {
	f.Add([]byte("peek discard read"), uint8(16), uint8(3), uint16(200))
	f.Add([]byte{0, 255, 1, 7, 2, 16, 0, 17}, uint8(8), uint8(1), uint16(50))
	f.Fuzz(func(t *testing.T, ops []byte, head, chunk uint8, size uint16) {
		h := int(head)%64 + 1
		data := make([]byte, int(size)%4096)
		for i := range data {
			data[i] = byte(i)
		}
		var calls []streamOp
		for i := 0; i+1 < len(ops) && len(calls) < 500; i += 2 {
			calls = append(calls, streamOp{kind: "pdr"[int(ops[i])%3], n: int(ops[i+1]) % (h + 3)})
		}
		rng := rand.New(rand.NewPCG(uint64(len(ops)), uint64(size)))
		s := newStream(&flakySource{data: data, rng: rng, end: io.EOF}, h, int(chunk)%128)
		checkStream(t, s, data, io.EOF, calls)
	})
}

// TestOpenReadAhead: a file large enough to be read ahead gives exactly
// the packets, and the errors, of the same bytes read without read-ahead,
// in every format and when cut anywhere, chunk boundaries included.
func TestOpenReadAhead(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	for _, opt := range []pcapgen.Options{
		{Seed: 1},
		{Seed: 2, Format: pcapgen.Pcapng},
		{Seed: 3, Format: pcapgen.PcapNano, Gzip: true},
	} {
		var buf bytes.Buffer
		size := int64(aheadMinSize + aheadChunk + 12345)
		if opt.Gzip {
			size = size * 3 / 2 // to stay above aheadMinSize once compressed
		}
		if _, err := pcapgen.Mix(&buf, pcapgen.MixOptions{Options: opt, Size: size}); err != nil {
			t.Fatal(err)
		}
		whole := buf.Bytes()
		cuts := []int{len(whole)}
		if !opt.Gzip {
			// Chunks hold 1 MiB each: cut just past a boundary, just
			// before one, on one, inside a record that straddles one,
			// and near the end.
			cuts = append(cuts, 4*aheadChunk+1, 5*aheadChunk-3, 5*aheadChunk, 5*aheadChunk+7, len(whole)-1, len(whole)-100)
		} else {
			cuts = append(cuts, len(whole)-1, len(whole)/2)
		}
		for _, cut := range cuts {
			if cut < aheadMinSize && cut != len(whole) {
				continue
			}
			name := fmt.Sprintf("format %v gzip %v cut %d of %d", opt.Format, opt.Gzip, cut, len(whole))
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(dir, "c.pcap")
				if err := os.WriteFile(path, whole[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				if cut < aheadMinSize {
					t.Fatalf("file of %d bytes is below the read-ahead size %d", cut, aheadMinSize)
				}
				ahead, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer ahead.Close()
				if ahead.br.full == nil {
					t.Fatal("Open did not read ahead")
				}
				plain, err := NewReader(path, bytes.NewReader(whole[:cut]), int64(cut))
				if err != nil {
					t.Fatal(err)
				}
				defer plain.Close()
				n := 0
				for {
					a, errA := ahead.Next()
					b, errB := plain.Next()
					if fmt.Sprint(errA) != fmt.Sprint(errB) {
						t.Fatalf("packet %d: read ahead: %v; without: %v", n+1, errA, errB)
					}
					if errA != nil {
						if cut == len(whole) && errA != io.EOF {
							t.Fatalf("whole file ends with %v", errA)
						}
						break
					}
					if !bytes.Equal(a.Data, b.Data) || !a.Time.Equal(b.Time) || a.CapLen != b.CapLen ||
						a.OrigLen != b.OrigLen || a.LinkType != b.LinkType || a.Index != b.Index {
						t.Fatalf("packet %d differs: %+v against %+v", n+1, a, b)
					}
					n++
				}
				if ahead.Stats() != plain.Stats() {
					t.Errorf("stats: %+v read ahead, %+v without", ahead.Stats(), plain.Stats())
				}
				if done, total := ahead.Progress(); total != int64(cut) || done != total {
					t.Errorf("progress at the end: %d of %d, want %d of %d", done, total, cut, cut)
				}
				t.Logf("%d packets", n)
			})
		}
	}
}
