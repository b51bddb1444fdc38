package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

// handBuilt returns the pcapng files that NgWriter cannot write, with the
// packets they hold and the number of blocks that must be skipped.
func handBuilt() map[string]struct {
	file    []byte
	want    []pkt
	skipped uint64
} {
	out := map[string]struct {
		file    []byte
		want    []pkt
		skipped uint64
	}{}
	t0 := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	ns := uint64(t0.UnixNano())

	// Two interfaces with different link types and timestamp resolutions:
	// nanoseconds, 2^-20 seconds with an offset, and the default
	// microseconds.
	{
		g := &ng{}
		g.shb(le).
			idb(1, 0, tsresol(9)).
			idb(101, 0, tsresol(0x80|20), tsoffset(le, 1_000_000)).
			idb(113, 262144)
		a, b, c := frame(1, 60), frame(2, 41), frame(3, 1514)
		sec := uint64(t0.Unix()) - 1_000_000
		g.epb(0, ns+123, a, 60).
			epb(1, sec<<20|1<<19, b, 1500). // .5 s
			epb(2, ns/1000+7, c, 1514)
		out["pcapng two link types, if_tsresol 10^-9 and 2^-20, if_tsoffset"] = struct {
			file    []byte
			want    []pkt
			skipped uint64
		}{g.b, []pkt{
			{a, t0.Add(123), 60, 1},
			{b, t0.Add(500 * time.Millisecond), 1500, 101},
			{c, t0.Add(7 * time.Microsecond), 1514, 113},
		}, 0}
	}
	// A big-endian section, milliseconds.
	{
		g := &ng{}
		a, b := frame(4, 98), frame(5, 99)
		g.shb(be).idb(1, 0, tsresol(3)).
			epb(0, uint64(t0.UnixMilli()), a, 98).
			epb(0, uint64(t0.UnixMilli())+1, b, 99)
		out["pcapng big-endian, if_tsresol 10^-3"] = struct {
			file    []byte
			want    []pkt
			skipped uint64
		}{g.b, []pkt{{a, t0, 98, 1}, {b, t0.Add(time.Millisecond), 99, 1}}, 0}
	}
	// Several sections: the second (big-endian) resets the interfaces.
	{
		g := &ng{}
		a, b, c := frame(6, 70), frame(7, 71), frame(8, 72)
		g.shb(le).idb(1, 0).idb(0, 0).
			epb(1, uint64(t0.UnixMicro()), a, 70).
			shb(be).idb(228, 0).
			epb(0, uint64(t0.UnixMicro())+1, b, 71).
			shb(le).idb(101, 0, tsresol(9)).
			epb(0, ns+5000, c, 72)
		out["pcapng three sections, both byte orders"] = struct {
			file    []byte
			want    []pkt
			skipped uint64
		}{g.b, []pkt{
			{a, t0, 70, 0},
			{b, t0.Add(time.Microsecond), 71, 228},
			{c, t0.Add(5 * time.Microsecond), 72, 101},
		}, 0}
	}
	// Simple packet blocks (no timestamp: the previous packet's time),
	// cut by the interface snap length, and the obsolete packet block.
	{
		g := &ng{}
		a, b, c, d := frame(9, 60), frame(10, 100), frame(11, 40), frame(12, 52)
		g.shb(le).idb(1, 64).
			spb(a, 60).
			epb(0, uint64(t0.UnixMicro()), c, 40).
			spb(b, 1000).
			pb(0, uint64(t0.UnixMicro())+9, d, 52)
		out["pcapng simple and obsolete packet blocks"] = struct {
			file    []byte
			want    []pkt
			skipped uint64
		}{g.b, []pkt{
			{a, time.Unix(0, 0).UTC(), 60, 1},
			{c, t0, 40, 1},
			{b[:64], t0, 1000, 1},
			{d, t0.Add(9 * time.Microsecond), 52, 1},
		}, 0}
	}
	// Blocks that carry no packet are skipped.
	{
		g := &ng{}
		a, b := frame(13, 33), frame(14, 34)
		g.shb(le).idb(1, 0).
			block(4, []byte{0, 0, 0, 0}).                  // name resolution
			epb(0, uint64(t0.UnixMicro()), a, 33).         //
			block(5, make([]byte, 12)).                    // interface statistics
			block(0x40000bad, []byte("PEN!custom data")).  // custom
			block(0x12345678, nil).                        // unknown
			block(0x0000000a, []byte("TLS secrets......")) // decryption secrets
		g.epb(0, uint64(t0.UnixMicro())+1, b, 34)
		out["pcapng unknown and non-packet blocks"] = struct {
			file    []byte
			want    []pkt
			skipped uint64
		}{g.b, []pkt{{a, t0, 33, 1}, {b, t0.Add(time.Microsecond), 34, 1}}, 5}
	}
	return out
}

func TestFormats(t *testing.T) {
	micro := testPackets(40, 1, true)
	nano := testPackets(40, 1, false)
	raw := testPackets(7, 101, true)
	tests := []struct {
		name    string
		file    []byte
		size    int64 // -1: unknown, as for standard input
		format  string
		want    []pkt
		skipped uint64
	}{
		{name: "pcap µs little-endian (pcapgo.Writer)", file: pcapgoFile(t, false, 1, micro), format: "pcap", want: micro},
		{name: "pcap ns little-endian (pcapgo.Writer)", file: pcapgoFile(t, true, 1, nano), format: "pcap-ns", want: nano},
		{name: "pcap µs big-endian", file: pcapFile(be, false, 1, micro), format: "pcap", want: micro},
		{name: "pcap ns big-endian", file: pcapFile(be, true, 1, nano), format: "pcap-ns", want: nano},
		{name: "pcap raw IP link type", file: pcapFile(le, false, 101, raw), format: "pcap", want: raw},
		{name: "pcap link type with FCS bits", file: pcapFile(le, false, 1|0x0c000000, micro[:2]), format: "pcap", want: micro[:2]},
		{name: "pcap without packets", file: pcapFile(le, false, 1, nil), format: "pcap"},
		{name: "pcap gzip", file: gzipped(t, pcapgoFile(t, false, 1, micro)), format: "pcap+gzip", want: micro},
		{name: "pcap ns gzip", file: gzipped(t, pcapFile(be, true, 1, nano)), format: "pcap-ns+gzip", want: nano},
		{name: "pcap from stdin (size unknown)", file: pcapgoFile(t, false, 1, micro), size: -1, format: "pcap", want: micro},
		{name: "pcapng (pcapgo.NgWriter)", file: ngWriterFile(t, 1, nano), format: "pcapng", want: nano},
		{name: "pcapng gzip", file: gzipped(t, ngWriterFile(t, 1, nano)), format: "pcapng+gzip", want: nano},
		{name: "pcapng gzip from stdin", file: gzipped(t, ngWriterFile(t, 1, nano)), size: -1, format: "pcapng+gzip", want: nano},
		{name: "pcapng without packets", file: (&ng{}).shb(le).idb(1, 0).b, format: "pcapng"},
	}
	for name, h := range handBuilt() {
		tests = append(tests, struct {
			name    string
			file    []byte
			size    int64
			format  string
			want    []pkt
			skipped uint64
		}{name: name, file: h.file, format: "pcapng", want: h.want, skipped: h.skipped})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int64{int64(len(tt.file)), -1} {
				if tt.size < 0 && size >= 0 {
					continue
				}
				r, err := NewReader("test.cap", bytes.NewReader(tt.file), size)
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Format(); got != tt.format {
					t.Errorf("Format() = %q, want %q", got, tt.format)
				}
				var got []readPkt
				for {
					p, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("after %d packets: %v", len(got), err)
					}
					got = append(got, readPkt{pkt{bytes.Clone(p.Data), p.Time, p.OrigLen, p.LinkType}, p.CapLen, p.Index})
				}
				comparePackets(t, got, tt.want)
				if _, err := r.Next(); err != io.EOF {
					t.Errorf("Next after the end: %v, want io.EOF", err)
				}
				done, total := r.Progress()
				if done != int64(len(tt.file)) || total != size {
					t.Errorf("Progress() = %d, %d; want %d, %d", done, total, len(tt.file), size)
				}
				st := r.Stats()
				if st.Packets != uint64(len(tt.want)) || st.SkippedBlocks != tt.skipped {
					t.Errorf("Stats() = %+v, want %d packets and %d skipped blocks", st, len(tt.want), tt.skipped)
				}
				if err := r.Close(); err != nil {
					t.Error(err)
				}
				if _, err := r.Next(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("Next after Close: %v", err)
				}
			}
		})
	}
}

// TestLargeBlocks reads pcapng blocks larger than the read buffer, which
// take the copying path, and a pcap whose packets exceed its header's snap
// length.
func TestLargeBlocks(t *testing.T) {
	big := frame(1, MaxSnapLen)
	g := &ng{}
	g.shb(le).idb(1, 0).
		epb(0, 1, big, MaxSnapLen).
		block(0x0bad, make([]byte, 3<<20)). // skipped
		epb(0, 2, big[:100], 100)
	// A 2 MiB option makes the enhanced packet block exceed 1 MiB.
	g.b = append(g.b, le.AppendUint32(nil, blockEnhanced)...)
	body := le.AppendUint32(nil, 0)
	body = le.AppendUint32(body, 0)
	body = le.AppendUint32(body, 3)
	body = le.AppendUint32(body, 10)
	body = le.AppendUint32(body, 10)
	body = append(body, frame(2, 10)...)
	body = append(body, 0, 0)
	body = append(body, make([]byte, 2<<20)...) // garbage "options"
	g.b = le.AppendUint32(g.b, uint32(12+len(body)))
	g.b = append(g.b, body...)
	g.b = le.AppendUint32(g.b, uint32(12+len(body)))

	tests := []struct {
		name string
		file []byte
		size int64
		want []pkt
	}{
		{name: "pcapng, known size", file: g.b, size: int64(len(g.b))},
		{name: "pcapng, unknown size", file: g.b, size: -1},
		{name: "pcapng gzip", file: gzipped(t, g.b), size: -1},
		{name: "pcap larger than header snap length", file: pcapgoFile(t, false, 1, []pkt{{data: big, time: time.Unix(1, 0), origLen: MaxSnapLen, link: 1}}), size: -1,
			want: []pkt{{data: big, time: time.Unix(1, 0), origLen: MaxSnapLen, link: 1}}},
	}
	tests[0].want = []pkt{
		{big, time.Unix(0, 1000).UTC(), MaxSnapLen, 1},
		{big[:100], time.Unix(0, 2000).UTC(), 100, 1},
		{frame(2, 10), time.Unix(0, 3000).UTC(), 10, 1},
	}
	tests[1].want, tests[2].want = tests[0].want, tests[0].want
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, "big", tt.file, tt.size)
			if err != io.EOF {
				t.Fatal(err)
			}
			comparePackets(t, got, tt.want)
		})
	}
}

func TestNotCapture(t *testing.T) {
	tests := []struct {
		name    string
		file    []byte
		wantErr string
	}{
		{name: "text", file: []byte("mxwatch notes\n"), wantErr: `notes.txt: not a pcap or pcapng file (starts with "6d 78 77 61")`},
		{name: "empty", file: nil, wantErr: `notes.txt: not a pcap or pcapng file (file is empty)`},
		{name: "three bytes", file: []byte{0xd4, 0xc3, 0xb2}, wantErr: `notes.txt: not a pcap or pcapng file (starts with "d4 c3 b2")`},
		{name: "modified pcap magic", file: []byte{0x34, 0xcd, 0xb2, 0xa1, 0, 0}, wantErr: `notes.txt: not a pcap or pcapng file (starts with "34 cd b2 a1")`},
		{name: "gzip of text", file: gzipped(t, []byte("hello")), wantErr: `notes.txt: not a pcap or pcapng file (gzip-compressed data starts with "68 65 6c 6c")`},
		{name: "empty gzip", file: gzipped(t, nil), wantErr: `notes.txt: not a pcap or pcapng file (gzip-compressed data is empty)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader("notes.txt", bytes.NewReader(tt.file), int64(len(tt.file)))
			if !errors.Is(err, ErrNotCapture) {
				t.Fatalf("err = %v, want ErrNotCapture", err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("err = %q\nwant  %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	pkts := testPackets(5, 1, true)
	files := map[string][]byte{
		"a.pcap":    pcapgoFile(t, false, 1, pkts),
		"a.pcap.gz": gzipped(t, pcapgoFile(t, false, 1, pkts)),
		"notes.txt": []byte("mxwatch"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		file    string
		format  string
		wantErr error
	}{
		{name: "pcap", file: "a.pcap", format: "pcap"},
		{name: "gzip", file: "a.pcap.gz", format: "pcap+gzip"},
		{name: "not a capture", file: "notes.txt", wantErr: ErrNotCapture},
		{name: "missing", file: "missing.pcap", wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			r, err := Open(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want %v naming the file", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != tt.format {
				t.Errorf("Format() = %q", r.Format())
			}
			n, err := drain(r)
			if err != nil || n != len(pkts) {
				t.Errorf("read %d packets, %v", n, err)
			}
			done, total := r.Progress()
			if size := int64(len(files[tt.file])); done != size || total != size {
				t.Errorf("Progress() = %d, %d; want %d", done, total, size)
			}
			if err := r.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestTruncation cuts small captures at every byte offset: the reader must
// end cleanly at record boundaries and report ErrTruncated, with the
// offset where the data ended, everywhere else.
func TestTruncation(t *testing.T) {
	pkts := testPackets(4, 1, true)
	pcap := pcapgoFile(t, false, 1, pkts)
	pcapEnds := []int{24}
	for _, p := range pkts {
		pcapEnds = append(pcapEnds, pcapEnds[len(pcapEnds)-1]+16+len(p.data))
	}
	g := &ng{}
	g.shb(be).idb(1, 0).epb(0, 1, frame(1, 30), 30).block(5, make([]byte, 8)).
		spb(frame(2, 20), 20).shb(le).idb(1, 0).epb(0, 2, frame(3, 41), 41)
	ngPackets := map[int]int{} // block end -> packets read by then
	n := 0
	for i, end := range g.ends {
		if i == 2 || i == 4 || i == 7 {
			n++
		}
		ngPackets[end] = n
	}
	pcapPackets := map[int]int{}
	for i, end := range pcapEnds {
		pcapPackets[end] = i
	}
	tests := []struct {
		name      string
		file      []byte
		headerLen int         // shortest prefix that opens
		packets   map[int]int // clean end offsets -> packets
	}{
		{name: "pcap", file: pcap, headerLen: 24, packets: pcapPackets},
		{name: "pcapng", file: g.b, headerLen: g.ends[0], packets: ngPackets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; cut <= len(tt.file); cut++ {
				got, err := readAll(t, "evidence.pcap", tt.file[:cut], int64(cut))
				if cut < 4 {
					if !errors.Is(err, ErrNotCapture) {
						t.Fatalf("cut %d: %v, want ErrNotCapture", cut, err)
					}
					continue
				}
				want, clean := tt.packets[cut]
				if clean {
					if err != io.EOF || len(got) != want {
						t.Fatalf("cut %d: %d packets, %v; want %d packets and io.EOF", cut, len(got), err, want)
					}
					continue
				}
				var fe *FormatError
				if !errors.As(err, &fe) || !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut %d: %v, want a truncation *FormatError", cut, err)
				}
				if fe.Offset != int64(cut) || fe.Packet != int64(len(got)+1) && cut >= tt.headerLen {
					t.Fatalf("cut %d: %+v after %d packets", cut, fe, len(got))
				}
				if cut < tt.headerLen && fe.Packet != 0 {
					t.Fatalf("cut %d: truncated header reported as packet %d", cut, fe.Packet)
				}
			}
		})
	}
	t.Run("gzip", func(t *testing.T) {
		z := gzipped(t, pcap)
		for cut := 0; cut <= len(z); cut++ {
			got, err := readAll(t, "evidence.pcap.gz", z[:cut], int64(cut))
			switch {
			case cut == len(z):
				if err != io.EOF || len(got) != len(pkts) {
					t.Fatalf("whole file: %d packets, %v", len(got), err)
				}
			case cut < 2:
				if !errors.Is(err, ErrNotCapture) {
					t.Fatalf("cut %d: %v, want ErrNotCapture", cut, err)
				}
			default:
				if !isFormatError(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut %d: %v after %d packets, want ErrTruncated", cut, err, len(got))
				}
			}
		}
	})
}

func TestTruncationMessage(t *testing.T) {
	pkts := testPackets(3, 1, true)
	b := pcapgoFile(t, false, 1, pkts)
	cut := len(b) - 5
	_, err := readAll(t, "evidence.pcap", b[:cut], -1)
	want := "evidence.pcap: truncated inside packet 3 at byte offset " + strconv.Itoa(cut) + ": unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestIOError checks that an error of the underlying reader is returned as
// such, not as a format problem.
func TestIOError(t *testing.T) {
	eio := errors.New("input/output error")
	pcap := pcapgoFile(t, false, 1, testPackets(5, 1, true))
	ngf := ngWriterFile(t, 1, testPackets(5, 1, true))
	tests := []struct {
		name string
		data []byte
	}{
		{name: "pcap", data: pcap[:100]},
		{name: "pcapng", data: ngf[:200]},
		{name: "gzip", data: gzipped(t, pcap)[:60]},
		{name: "header", data: pcap[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader("disk.pcap", &failingReader{data: tt.data, err: eio}, -1)
			if err == nil {
				_, err = drain(r)
			}
			var fe *FormatError
			if !errors.Is(err, eio) || errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "disk.pcap: ") {
				t.Errorf("err = %v, want the I/O error with the file name", err)
			}
		})
	}
}
