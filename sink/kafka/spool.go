package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Spool file format. A segment is a file named <seq>.seg (seq: 20 decimal
// digits, so names sort like numbers). It holds records back to back:
//
//	length  uint32 big endian, bytes of payload
//	crc     uint32 big endian, CRC-32C (Castagnoli) of payload
//	payload version byte (1), uvarint topic length, topic,
//	        uvarint key length, key, value (the rest)
const (
	segSuffix       = ".seg"
	recHeaderLen    = 8
	payloadVersion  = 1
	maxRecordBytes  = 4 << 20
	firstSegmentSeq = 1 << 40 // room below for prepended segments
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// record is one Kafka message waiting to be written.
type record struct {
	topic string
	key   []byte
	value []byte
}

// appendRecord encodes r (header and payload) onto b.
func appendRecord(b []byte, r record) []byte {
	start := len(b)
	b = append(b, make([]byte, recHeaderLen)...)
	b = append(b, payloadVersion)
	b = binary.AppendUvarint(b, uint64(len(r.topic)))
	b = append(b, r.topic...)
	b = binary.AppendUvarint(b, uint64(len(r.key)))
	b = append(b, r.key...)
	b = append(b, r.value...)
	payload := b[start+recHeaderLen:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

// decodePayload parses a record payload whose CRC has been checked.
func decodePayload(p []byte) (record, error) {
	if len(p) == 0 || p[0] != payloadVersion {
		return record{}, errBadRecord
	}
	p = p[1:]
	tl, n := binary.Uvarint(p)
	if n <= 0 || tl > uint64(len(p)-n) {
		return record{}, errBadRecord
	}
	p = p[n:]
	topic := string(p[:tl])
	p = p[tl:]
	kl, n := binary.Uvarint(p)
	if n <= 0 || kl > uint64(len(p)-n) {
		return record{}, errBadRecord
	}
	p = p[n:]
	key := slices.Clone(p[:kl])
	value := slices.Clone(p[kl:])
	return record{topic: topic, key: key, value: value}, nil
}

// segment is one spool file.
type segment struct {
	seq  uint64
	path string
	size int64 // bytes in the file
	read int64 // offset of the first record not yet committed
}

// spool is a bounded, append-only queue of records in segment files. It is
// not safe for concurrent use; the Producer serialises access.
type spool struct {
	dir    string
	max    int64 // bound on the bytes of all segment files
	segMax int64
	segs   []*segment // by seq; the last one may be open for append
	active *os.File   // open for append: the last segment, or nil
	total  int64
	m      *metrics
	buf    []byte
	// noSpace is set when a write failed because the file system is full
	// (ENOSPC, EDQUOT); appends fail fast until commit frees space.
	noSpace bool
}

// isNoSpace reports whether err says the file system (or the quota) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// ioErr wraps a spool I/O error; a full file system becomes errNoSpace and
// sets s.noSpace.
func (s *spool) ioErr(err error) error {
	if isNoSpace(err) {
		s.noSpace = true
		return fmt.Errorf("kafka: spool: %w: %w", errNoSpace, err)
	}
	return fmt.Errorf("kafka: spool: %w", err)
}

// openSpool opens dir (creating it) and lists existing segments, which are
// drained before anything appended later. Segment files never reopen for
// append: a crash may have left a torn tail in them.
func openSpool(dir string, maxBytes, segMax int64, m *metrics) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("kafka: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kafka: spool: %w", err)
	}
	s := &spool{dir: dir, max: maxBytes, segMax: segMax, m: m}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("kafka: spool: %w", err)
		}
		s.segs = append(s.segs, &segment{seq: seq, path: filepath.Join(dir, name), size: info.Size()})
		s.total += info.Size()
	}
	slices.SortFunc(s.segs, func(a, b *segment) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	s.m.spoolBytes.Store(s.total)
	return s, nil
}

// empty reports whether no record is waiting.
func (s *spool) empty() bool {
	for _, sg := range s.segs {
		if sg.read < sg.size {
			return false
		}
	}
	return true
}

// append adds r at the tail, or returns errSpoolFull (the bound) or
// errNoSpace (the file system is full). A write that fails part way is cut
// back off the segment, so no torn record is left behind; if even that
// fails, the segment is closed for good and its torn tail, which lies past
// the size this spool knows, is skipped and counted by a later run.
func (s *spool) append(r record) error {
	if s.noSpace {
		return fmt.Errorf("kafka: spool: %w", errNoSpace)
	}
	s.buf = appendRecord(s.buf[:0], r)
	n := int64(len(s.buf))
	if n-recHeaderLen > maxRecordBytes || s.total+n > s.max {
		return errSpoolFull
	}
	if s.active != nil {
		last := s.segs[len(s.segs)-1]
		if last.size > 0 && last.size+n > s.segMax {
			if err := s.active.Close(); err != nil {
				return fmt.Errorf("kafka: spool: %w", err)
			}
			s.active = nil
		}
	}
	if s.active == nil {
		seq := uint64(firstSegmentSeq)
		if len(s.segs) > 0 {
			seq = s.segs[len(s.segs)-1].seq + 1
		}
		sg, f, err := s.create(seq, os.O_APPEND)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, sg)
		s.active = f
	}
	last := s.segs[len(s.segs)-1]
	if _, err := s.active.Write(s.buf); err != nil {
		if terr := s.active.Truncate(last.size); terr != nil {
			_ = s.active.Close()
			s.active = nil
		}
		return s.ioErr(err)
	}
	last.size += n
	s.total += n
	s.m.spoolBytes.Store(s.total)
	return nil
}

func (s *spool) create(seq uint64, flag int) (*segment, *os.File, error) {
	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|flag, 0o640)
	if err != nil {
		return nil, nil, s.ioErr(err)
	}
	return &segment{seq: seq, path: path}, f, nil
}

// prepend writes rs as a new head segment, so that they are drained before
// everything already spooled. Records beyond the bound are dropped and
// returned as the count; on an error (a full file system: errNoSpace)
// none was written and all count as dropped.
func (s *spool) prepend(rs []record) (dropped int, err error) {
	if len(rs) == 0 {
		return 0, nil
	}
	seq := uint64(firstSegmentSeq)
	if len(s.segs) > 0 {
		if s.segs[0].seq == 0 {
			return len(rs), fmt.Errorf("kafka: spool: no sequence number left before segment 0")
		}
		seq = s.segs[0].seq - 1
	}
	var b []byte
	total := s.total
	for i, r := range rs {
		before := len(b)
		b = appendRecord(b, r)
		n := int64(len(b) - before)
		if n-recHeaderLen > maxRecordBytes || total+n > s.max {
			b = b[:before]
			dropped += len(rs) - i
			break
		}
		total += n
	}
	if len(b) == 0 {
		return dropped, nil
	}
	if s.noSpace {
		return len(rs), fmt.Errorf("kafka: spool: %w", errNoSpace)
	}
	sg, f, err := s.create(seq, 0)
	if err != nil {
		return len(rs), err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(sg.path)
		return len(rs), s.ioErr(err)
	}
	sg.size = int64(len(b))
	s.segs = slices.Insert(s.segs, 0, sg)
	s.total += sg.size
	s.m.spoolBytes.Store(s.total)
	return dropped, nil
}

// peek reads up to n records from the head segment without consuming them.
// It returns the offset to pass to commit. Corrupt records are skipped and
// counted; a torn or unreadable tail ends the segment.
func (s *spool) peek(n int) ([]record, int64, error) {
	if len(s.segs) == 0 {
		return nil, 0, nil
	}
	sg := s.segs[0]
	f, err := os.Open(sg.path)
	if err != nil {
		return nil, 0, fmt.Errorf("kafka: spool: %w", err)
	}
	defer f.Close()
	var (
		recs []record
		off  = sg.read
		hdr  [recHeaderLen]byte
	)
	for len(recs) < n && off < sg.size {
		if sg.size-off < recHeaderLen {
			s.m.corrupt.Add(1)
			off = sg.size
			break
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				s.m.corrupt.Add(1)
				off = sg.size
				break
			}
			return nil, 0, fmt.Errorf("kafka: spool: %w", err)
		}
		l := int64(binary.BigEndian.Uint32(hdr[:4]))
		if l > maxRecordBytes || l > sg.size-off-recHeaderLen {
			// The length cannot be trusted, so nothing after it can be found.
			s.m.corrupt.Add(1)
			off = sg.size
			break
		}
		p := make([]byte, l)
		if _, err := f.ReadAt(p, off+recHeaderLen); err != nil {
			if errors.Is(err, io.EOF) {
				s.m.corrupt.Add(1)
				off = sg.size
				break
			}
			return nil, 0, fmt.Errorf("kafka: spool: %w", err)
		}
		off += recHeaderLen + l
		if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			s.m.corrupt.Add(1)
			continue
		}
		r, err := decodePayload(p)
		if err != nil {
			s.m.corrupt.Add(1)
			continue
		}
		recs = append(recs, r)
	}
	return recs, off, nil
}

// commit consumes the head segment up to off (from peek) and deletes the
// segment once it is consumed entirely.
func (s *spool) commit(off int64) error {
	if len(s.segs) == 0 {
		return nil
	}
	sg := s.segs[0]
	sg.read = off
	if sg.read < sg.size {
		return nil
	}
	if len(s.segs) == 1 && s.active != nil {
		if err := s.active.Close(); err != nil {
			return fmt.Errorf("kafka: spool: %w", err)
		}
		s.active = nil
	}
	if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kafka: spool: %w", err)
	}
	s.segs = s.segs[1:]
	s.total -= sg.size
	s.m.spoolBytes.Store(s.total)
	s.noSpace = false // space was freed: try writing again
	return nil
}

// close closes the segment open for append; the files stay for the next run.
func (s *spool) close() error {
	if s.active == nil {
		return nil
	}
	err := s.active.Close()
	s.active = nil
	if err != nil {
		return fmt.Errorf("kafka: spool: %w", err)
	}
	return nil
}
