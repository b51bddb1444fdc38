package pcapgen

import (
	"container/heap"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/miekg/dns"
)

// MixOptions configure Mix.
type MixOptions struct {
	// Options are the writer options (format, link, gzip, seed, start).
	Options
	// Size is the capture size to stop at, in bytes before gzip
	// compression (the file is at most one packet record larger). It must
	// be positive.
	Size int64
	// PacketRate is the average number of packets per second of capture
	// time; zero means 20000.
	PacketRate int
	// Hosts is the number of platform hosts that open connections; zero
	// means 4000. At most 63000.
	Hosts int
}

// MixStats describe what Mix wrote.
type MixStats struct {
	Packets int
	// Packets by class: DNS (port 53), SMTP (ports 25, 465, 587) and noise
	// (everything else).
	DNS, SMTP, Noise int
	// Flows is the number of flows started (a direct-to-MX send with its
	// lookups counts as one).
	Flows int
	// Bytes is the capture size before compression.
	Bytes int64
	// First and Last are the timestamps of the first and last packet.
	First, Last time.Time
}

// Target shares of packets; the rest is noise.
const (
	mixShareDNS  = 0.05
	mixShareSMTP = 0.02
)

// Mix writes a large capture for benchmarks to out: mostly non-mail noise
// (HTTPS flows with full-size segments, plain HTTP page views of hosted
// websites, QUIC- and NTP-like UDP, ICMP echo,
// ARP), about 5% DNS packets (A, AAAA and MX lookups from many hosts) and
// about 2% SMTP packets (sessions on 25 and 587: through the relay, to
// smarthosts, and direct to MX after an MX lookup), from many platform
// hosts. Flows overlap in time; the packet rate averages opt.PacketRate.
//
// Memory stays bounded whatever the size: flows are generated one at a
// time, buffered only until their last packet is written, and merged in
// timestamp order.
func Mix(out io.Writer, opt MixOptions) (MixStats, error) {
	if opt.Size <= 0 {
		return MixStats{}, fmt.Errorf("%w: mix size %d", ErrBadOptions, opt.Size)
	}
	if opt.PacketRate == 0 {
		opt.PacketRate = 20000
	}
	if opt.Hosts == 0 {
		opt.Hosts = 4000
	}
	if opt.PacketRate < 0 || opt.Hosts < 0 || opt.Hosts > 63000 {
		return MixStats{}, fmt.Errorf("%w: mix rate %d, hosts %d", ErrBadOptions, opt.PacketRate, opt.Hosts)
	}
	w, err := New(out, opt.Options)
	if err != nil {
		return MixStats{}, err
	}
	// Random payloads are slices of one block made up front.
	w.payload = w.randBytes(1 << 20)
	m := &mixer{w: w, opt: opt, list: &listSink{}}
	st := m.run()
	if err := w.Close(); err != nil {
		return st, fmt.Errorf("pcapgen: mix: %w", err)
	}
	return st, nil
}

// bufPacket is one generated packet waiting to be written.
type bufPacket struct {
	ci    gopacket.CaptureInfo
	off   int // into the flow's arena
	class packetClass
}

// mixFlow is a generated flow whose packets are being merged into the
// output.
type mixFlow struct {
	pkts  []bufPacket
	arena []byte
	next  int
	order int // generation order, breaks timestamp ties
}

func (f *mixFlow) ts() time.Time { return f.pkts[f.next].ci.Timestamp }

type flowHeap []*mixFlow

func (h flowHeap) Len() int { return len(h) }
func (h flowHeap) Less(i, j int) bool {
	ti, tj := h[i].ts(), h[j].ts()
	if ti.Equal(tj) {
		return h[i].order < h[j].order
	}
	return ti.Before(tj)
}
func (h flowHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flowHeap) Push(x any)   { *h = append(*h, x.(*mixFlow)) }
func (h *flowHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return f
}

// listSink collects the packets of the flow being generated.
type listSink struct {
	flow *mixFlow
}

func (l *listSink) writePacket(ci gopacket.CaptureInfo, frame []byte, class packetClass) error {
	f := l.flow
	f.pkts = append(f.pkts, bufPacket{ci: ci, off: len(f.arena), class: class})
	f.arena = append(f.arena, frame...)
	return nil
}

type mixer struct {
	w       *Writer
	opt     MixOptions
	list    *listSink
	free    []*mixFlow // finished flows whose buffers are reused
	made    [numClasses]int
	flows   int
	genPkts int
}

func (m *mixer) run() MixStats {
	w := m.w
	var st MixStats
	var h flowHeap
	nextStart := w.now
	perPacket := time.Second / time.Duration(m.opt.PacketRate)
	for w.err == nil && w.bytes < m.opt.Size {
		if len(h) == 0 || !nextStart.After(h[0].ts()) {
			f := m.generate(nextStart)
			n := len(f.pkts)
			if n > 0 {
				heap.Push(&h, f)
			} else {
				m.recycle(f)
			}
			// Exponential gaps whose mean keeps the packet rate.
			gap := time.Duration(float64(max(n, 1)*int(perPacket)) * -math.Log(1-w.rng.Float64()))
			nextStart = nextStart.Add(max(gap, time.Microsecond))
			continue
		}
		f := h[0]
		p := f.pkts[f.next]
		end := len(f.arena)
		if f.next+1 < len(f.pkts) {
			end = f.pkts[f.next+1].off
		}
		if err := w.file.writePacket(p.ci, f.arena[p.off:end], p.class); err != nil {
			w.fail(fmt.Errorf("pcapgen: write packet %d: %w", w.packets+1, err))
			break
		}
		w.packets++
		w.bytes += recordSize(w.opt.Format, p.ci.CaptureLength)
		if st.Packets == 0 {
			st.First = p.ci.Timestamp
		}
		st.Last = p.ci.Timestamp
		st.Packets++
		switch p.class {
		case classDNS:
			st.DNS++
		case classSMTP:
			st.SMTP++
		default:
			st.Noise++
		}
		f.next++
		if f.next == len(f.pkts) {
			heap.Pop(&h)
			m.recycle(f)
		} else {
			heap.Fix(&h, 0)
		}
	}
	st.Flows = m.flows
	st.Bytes = w.bytes
	return st
}

// recycle keeps a finished flow's buffers for reuse, unless they are
// large: one big download must not pin its memory for the rest of the run.
func (m *mixer) recycle(f *mixFlow) {
	if cap(f.arena) > 256<<10 || len(m.free) >= 256 {
		return
	}
	m.free = append(m.free, f)
}

// generate builds the next flow, starting at start, into a buffer.
func (m *mixer) generate(start time.Time) *mixFlow {
	var f *mixFlow
	if n := len(m.free); n > 0 {
		f = m.free[n-1]
		m.free = m.free[:n-1]
		f.pkts, f.arena, f.next = f.pkts[:0], f.arena[:0], 0
	} else {
		f = &mixFlow{}
	}
	m.flows++
	f.order = m.flows
	m.list.flow = f

	w := m.w
	fw := &Writer{
		opt: w.opt, snaplen: w.snaplen, rng: w.rng, now: start, sink: m.list,
		ipID: w.ipID, tunSeq: w.tunSeq, sbuf: w.sbuf, payload: w.payload,
	}
	// Pick the class furthest below its share of the packets made so far.
	total := float64(m.genPkts + 1)
	dnsDeficit := mixShareDNS*total - float64(m.made[classDNS])
	smtpDeficit := mixShareSMTP*total - float64(m.made[classSMTP])
	switch {
	case smtpDeficit > 0 && smtpDeficit >= dnsDeficit:
		m.smtpFlow(fw)
	case dnsDeficit > 0:
		m.dnsFlow(fw)
	default:
		m.noiseFlow(fw)
	}
	w.ipID, w.tunSeq = fw.ipID, fw.tunSeq
	if fw.err != nil {
		w.fail(fw.err)
	}
	for _, p := range f.pkts {
		m.made[p.class]++
	}
	m.genPkts += len(f.pkts)
	return f
}

// host returns a random platform host, IPv6 for about one flow in ten.
func (m *mixer) host(w *Writer) netip.Addr {
	h := w.intn(m.opt.Hosts)
	hi, lo := byte(1+h/250), byte(1+h%250)
	if w.intn(10) == 0 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x14, 0, hi, 14: 0, 15: lo})
	}
	return netip.AddrFrom4([4]byte{10, 20, hi, lo})
}

// external returns a random external address of a's family.
func external(w *Writer, a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, byte(w.intn(256)), 13: byte(w.intn(256)), 14: byte(w.intn(256)), 15: byte(1 + w.intn(254))})
	}
	nets := [3][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	n := nets[w.intn(3)]
	return netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(1 + w.intn(254))})
}

func resolverFor(a netip.Addr) netip.AddrPort {
	if a.Is6() {
		return resolver6
	}
	return resolver
}

func (m *mixer) noiseFlow(w *Writer) {
	w.class = classNoise
	c := m.host(w)
	switch r := w.intn(100); {
	case r < 40:
		size := 2000 + w.intn(60000)
		if w.intn(8) == 0 {
			size = 100000 + w.intn(500000)
		}
		w.HTTPS(ap(c, 0), ap(external(w, c), 443), Encap{}, size)
	case r < 62:
		// A visitor fetching a page from a website hosted on c.
		w.HTTP(ap(external(w, c), 0), ap(c, 80), Encap{}, mixNames[w.intn(len(mixNames))], 1000+w.intn(40000))
	case r < 80:
		w.QUIC(ap(c, 0), ap(external(w, c), 443), Encap{}, 10+w.intn(200))
	case r < 86:
		w.NTP(c, external(w, c), Encap{})
	case r < 94:
		w.Ping(c, external(w, c), Encap{}, 1+w.intn(4))
	default:
		if !w.canCarryARP() {
			w.Ping(c, external(w, c), Encap{}, 1)
			return
		}
		c4 := netip.AddrFrom4([4]byte{10, 20, byte(1 + w.intn(m.opt.Hosts/250+1)), byte(1 + w.intn(250))})
		w.ARP(gatewayIP, c4, Encap{})
	}
}

var mixNames = []string{
	"www.example.com", "cdn.example.net", "api.example.org", "static.example.com",
	"updates.example.net", "login.example.org", "images.example.com", "repo.example.net",
	"wordpress.example.org", "fonts.example.com", "metrics.example.net", "shop.example.org",
}

var mixDomains = []mxDomain{gmail, outlook, exampleNet}

func (m *mixer) dnsFlow(w *Writer) {
	w.class = classDNS
	c := m.host(w)
	for i, n := 0, 1+w.intn(3); i < n; i++ {
		if i > 0 {
			w.advance(time.Millisecond, 200*time.Millisecond)
		}
		name := mixNames[w.intn(len(mixNames))]
		switch r := w.intn(10); {
		case r < 6:
			lookupAddr(w, c, resolverFor(c), Encap{}, name, dns.TypeA, external(w, netip.IPv4Unspecified()), external(w, netip.IPv4Unspecified()))
		case r < 9:
			lookupAddr(w, c, resolverFor(c), Encap{}, name, dns.TypeAAAA, external(w, netip.IPv6Unspecified()))
		default:
			d := mixDomains[w.intn(len(mixDomains))]
			lookupMX(w, c, resolverFor(c), Encap{}, d, w.intn(2) == 0)
		}
	}
}

func (m *mixer) smtpFlow(w *Writer) {
	c := m.host(w)
	v6 := c.Is6()
	rcptDomain := mixDomains[w.intn(len(mixDomains))]
	switch r := w.intn(10); {
	case r < 4 && !v6: // through the platform relay
		w.class = classSMTP
		s := w.smtpOpen(ap(c, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
		s.ehlo(fmt.Sprintf("web%d.platform.example", c.As4()[3]))
		to := rcptDomain.rcpt + "@" + rcptDomain.domain
		s.mail("orders@lindenhof-shop.example", []string{to}, relayMessage(w, to), "")
		s.quit()
	case r < 6 && !v6: // submission with AUTH
		w.class = classSMTP
		s := w.smtpOpen(ap(c, 0), ap(submission, 587), Encap{}, ConnOptions{}, "smtp.example.com")
		s.ehlo(fmt.Sprintf("[%v]", c))
		s.authPlain("lena@example.com", "correct horse battery staple")
		s.mail("lena@example.com", []string{"tom@example.net"}, relayMessage(w, "tom@example.net"), "")
		s.quit()
	default: // direct to MX after the lookups
		w.class = classDNS
		glue := w.intn(2) == 0
		lookupMX(w, c, resolverFor(c), Encap{}, rcptDomain, glue)
		best := rcptDomain.hosts[0]
		var addrs []netip.Addr
		for _, a := range best.addrs {
			if a.Is6() == v6 {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return // no address of this family: the script gives up
		}
		if !glue {
			qtype := dns.TypeA
			if v6 {
				qtype = dns.TypeAAAA
			}
			lookupAddr(w, c, resolverFor(c), Encap{}, best.name, qtype, addrs...)
		}
		w.class = classSMTP
		w.advance(200*time.Microsecond, 2*time.Millisecond)
		s := w.smtpOpen(ap(c, 0), ap(addrs[0], 25), Encap{}, ConnOptions{}, best.name)
		s.ehlo(fmt.Sprintf("host-%d.platform.example", w.intn(m.opt.Hosts)))
		to := rcptDomain.rcpt + "@" + rcptDomain.domain
		s.mail("info@paket-zustellung.example", []string{to}, spamMessage(w, to), "")
		s.quit()
	}
}
