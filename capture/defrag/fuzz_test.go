package defrag

import (
	"encoding/binary"
	"testing"
	"time"
)

// fuzzByte is the byte at position i of datagram key k in FuzzDefrag:
// fragments cut from the same datagram agree wherever they overlap.
func fuzzByte(k, i int) byte { return byte(k*59 + i*13 + i>>8) }

// FuzzDefrag decodes the input as a sequence of fragments of four
// datagrams, 6 bytes each:
//
//	flags: bits 0-1 datagram, 2 more fragments, 3 garbled data,
//	       4 offset in bytes rather than 8-byte units, 5 Expire first
//	offset (16 bits), length (16 bits, mod 2048), time step (100 ms)
//
// It checks the bounds after every fragment, and that a datagram built
// only from ungarbled fragments is returned exactly.
func FuzzDefrag(f *testing.F) {
	rec := func(flags byte, off, n uint16, step byte) []byte {
		b := []byte{flags}
		b = binary.BigEndian.AppendUint16(b, off)
		b = binary.BigEndian.AppendUint16(b, n)
		return append(b, step)
	}
	cat := func(rs ...[]byte) []byte {
		var out []byte
		for _, r := range rs {
			out = append(out, r...)
		}
		return out
	}
	f.Add(cat(rec(4, 0, 1480, 0), rec(0, 185, 100, 1)))                                           // two in order
	f.Add(cat(rec(0, 370, 10, 0), rec(4, 185, 1480, 1), rec(4, 0, 1480, 1)))                      // reversed
	f.Add(cat(rec(4, 0, 16, 0), rec(4|8, 1, 16, 0), rec(0, 4, 8, 0)))                             // overlap, garbled
	f.Add(cat(rec(5, 0, 16, 0), rec(6, 0, 16, 0), rec(7, 0, 16, 0), rec(4, 0, 16, 0)))            // four datagrams
	f.Add(cat(rec(4, 0, 16, 0), rec(0x20, 2, 8, 255), rec(0, 2, 8, 0)))                           // expired
	f.Add(cat(rec(4|0x10, 3, 16, 0), rec(4, 8191, 16, 0), rec(0, 8190, 200, 0), rec(4, 0, 0, 0))) // invalid
	f.Fuzz(fuzzDefrag)
}

func fuzzDefrag(t *testing.T, in []byte) {
	cfg := Config{MaxDatagrams: 3, MaxBytes: 6000, Timeout: 2 * time.Second}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	var garbled [4]bool // a garbled fragment was given since the last result
	var adds uint64
	buf := make([]byte, 2048)
	for ; len(in) >= 6; in = in[6:] {
		flags := in[0]
		k := int(flags & 3)
		more := flags&4 != 0
		off := int(binary.BigEndian.Uint16(in[1:3]))
		if flags&0x10 == 0 {
			off *= 8
		}
		n := int(binary.BigEndian.Uint16(in[3:5])) % len(buf)
		now = now.Add(time.Duration(in[5]) * 100 * time.Millisecond)
		if flags&0x20 != 0 {
			d.Expire(now)
		}
		data := buf[:n]
		for i := range data {
			data[i] = fuzzByte(k, off+i)
			if flags&8 != 0 {
				data[i] ^= byte(i) | 1
			}
		}
		if flags&8 != 0 {
			garbled[k] = true
		}
		key := Key{Scope: uint64(k), ID: uint32(k) << 20}
		out, ok := d.Add(key, off, more, data, now)
		adds++
		if ok {
			if len(out) > MaxDatagram {
				t.Fatalf("datagram of %d bytes", len(out))
			}
			if !garbled[k] {
				for i, b := range out {
					if b != fuzzByte(k, i) {
						t.Fatalf("datagram %d: byte %d is %#x, want %#x", k, i, b, fuzzByte(k, i))
					}
				}
			}
			garbled[k] = false
		} else if out != nil {
			t.Fatal("data returned without ok")
		}
		st := d.Stats()
		if st.Datagrams > uint64(cfg.MaxDatagrams) || st.BufferedBytes > uint64(cfg.MaxBytes) || st.Fragments != adds {
			t.Fatalf("bounds: %+v", st)
		}
	}
	d.Expire(now.Add(cfg.Timeout))
	if st := d.Stats(); st.Datagrams != 0 || st.BufferedBytes != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}
