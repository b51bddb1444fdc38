package afpacket

import (
	"fmt"
	"slices"

	"golang.org/x/net/bpf"
)

// Values MailDNSFilter matches.
const (
	// FilterSnapLen is what MailDNSFilter returns for a packet it keeps:
	// keep all of it (Config.SnapLen still applies).
	FilterSnapLen = 0x40000
	// MaxFilterPorts bounds the distinct ports of one protocol, so that
	// the program's conditional jumps stay within their 8-bit range.
	MaxFilterPorts = 100

	portVXLAN  = 4789
	portGeneve = 6081

	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	protoTCP       = 6
	protoUDP       = 17
	protoGRE       = 47
	ipv4FragOffset = 0x1fff
)

// ipv6ExtHeaders are the IPv6 next-header values of extension headers
// (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP,
// shim6). The filter keeps such packets without looking further: walking
// the chain is more than classic BPF does well, and they are rare.
var ipv6ExtHeaders = []uint32{0, 43, 44, 60, 51, 135, 139, 140}

// MailDNSFilter returns a classic BPF program for Config.Filter that keeps
// only the frames the engine can use:
//
//   - IPv4 and IPv6 TCP with source or destination port in mailPorts or
//     dnsPorts, and UDP with source or destination port in dnsPorts;
//   - non-first IPv4 fragments of UDP (they carry no ports; DNS answers
//     can be fragmented). Non-first TCP fragments are dropped;
//   - IPv6 packets whose next header is an extension header (including
//     fragments), since classic BPF cannot follow the header chain: kept to
//     be safe, and left to the engine. ESP (50) is dropped: it is
//     encrypted;
//   - with tunnels, also GRE (IP protocol 47, which covers ERSPAN) and UDP
//     to or from port 4789 (VXLAN) and 6081 (Geneve), as an encapsulated
//     mirror carries the mail inside.
//
// Each may sit behind 0, 1 or 2 VLAN tags (802.1Q 0x8100 or 802.1ad
// 0x88a8). The program keeps FilterSnapLen bytes of a kept frame and drops
// everything else, including frames too short for the fields it reads.
// Ports must be non-zero; there may be at most MaxFilterPorts distinct
// ports per protocol, and at least one port or tunnels.
func MailDNSFilter(mailPorts, dnsPorts []uint16, tunnels bool) ([]bpf.RawInstruction, error) {
	for _, p := range slices.Concat(mailPorts, dnsPorts) {
		if p == 0 {
			return nil, fmt.Errorf("%w: port 0", ErrFilter)
		}
	}
	tcp := portSet(mailPorts, dnsPorts)
	udp := portSet(dnsPorts)
	if tunnels {
		udp = portSet(udp, []uint16{portVXLAN, portGeneve})
	}
	if len(tcp) == 0 && len(udp) == 0 && !tunnels {
		return nil, fmt.Errorf("%w: no ports and no tunnels: the filter would drop everything", ErrFilter)
	}
	if len(tcp) > MaxFilterPorts || len(udp) > MaxFilterPorts {
		return nil, fmt.Errorf("%w: %d TCP and %d UDP ports, at most %d each", ErrFilter, len(tcp), len(udp), MaxFilterPorts)
	}

	var a asm
	// L2: A = ethertype, X = offset of the L3 header.
	a.ins(bpf.LoadAbsolute{Off: 12, Size: 2})
	a.jeq(etherTypeVLAN, "tag1", "")
	a.jeq(etherTypeQinQ, "tag1", "")
	a.ins(bpf.LoadConstant{Dst: bpf.RegX, Val: 14})
	a.jmp("l3")
	a.label("tag1")
	a.ins(bpf.LoadAbsolute{Off: 16, Size: 2})
	a.jeq(etherTypeVLAN, "tag2", "")
	a.jeq(etherTypeQinQ, "tag2", "")
	a.ins(bpf.LoadConstant{Dst: bpf.RegX, Val: 18})
	a.jmp("l3")
	a.label("tag2")
	a.ins(bpf.LoadAbsolute{Off: 20, Size: 2})
	a.ins(bpf.LoadConstant{Dst: bpf.RegX, Val: 22})
	a.label("l3")
	a.jeq(etherTypeIPv4, "ipv4", "")
	a.jeq(etherTypeIPv6, "ipv6", "drop")

	// IPv4: M[0] = protocol; non-first fragments only for UDP; X = offset
	// of the L4 header.
	a.label("ipv4")
	a.ins(bpf.LoadIndirect{Off: 9, Size: 1})
	a.ins(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	if tunnels {
		a.jeq(protoGRE, "keep", "")
	}
	a.ins(bpf.LoadIndirect{Off: 6, Size: 2})
	a.jset(ipv4FragOffset, "frag", "")
	a.ins(bpf.LoadIndirect{Off: 0, Size: 1})
	a.ins(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.ins(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	a.jlt(20, "drop", "")
	a.ins(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.ins(bpf.TAX{})
	a.ins(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	a.jeqFar(protoTCP, "tcp")
	a.jeqFar(protoUDP, "udp")
	a.jmp("drop")
	a.label("frag")
	a.ins(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	a.jeq(protoUDP, "keep", "drop")

	// IPv6: fixed 40-byte header, then TCP or UDP directly.
	a.label("ipv6")
	a.ins(bpf.LoadIndirect{Off: 6, Size: 1})
	if tunnels {
		a.jeq(protoGRE, "keep", "")
	}
	for _, h := range ipv6ExtHeaders {
		a.jeq(h, "keep", "")
	}
	a.ins(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	a.ins(bpf.TXA{})
	a.ins(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	a.ins(bpf.TAX{})
	a.ins(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	a.jeqFar(protoTCP, "tcp")
	a.jeqFar(protoUDP, "udp")

	// Conditional jumps reach at most 255 instructions ahead, so the
	// verdicts come before the port tests, which may be long.
	a.label("drop")
	a.ins(bpf.RetConstant{Val: 0})
	a.label("keep")
	a.ins(bpf.RetConstant{Val: FilterSnapLen})

	// L4 with X = offset of the TCP or UDP header.
	a.ports("tcp", tcp)
	a.ports("udp", udp)
	return a.assemble()
}

// portSet returns the sorted distinct ports of lists.
func portSet(lists ...[]uint16) []uint16 {
	s := slices.Concat(lists...)
	slices.Sort(s)
	return slices.Compact(s)
}

// asm builds a classic BPF program with symbolic jump targets.
type asm struct {
	prog   []bpf.Instruction
	jumps  []jump
	labels map[string]int
	n      int // labels made by jeqFar
	err    error
}

// jump is a jump instruction whose targets are resolved by assemble; ""
// means the next instruction.
type jump struct {
	at          int
	cond        bpf.JumpTest
	val         uint32
	taken, fall string
}

func (a *asm) ins(i bpf.Instruction) { a.prog = append(a.prog, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	if _, dup := a.labels[name]; dup && a.err == nil {
		a.err = fmt.Errorf("%w: label %q defined twice", ErrFilter, name)
	}
	a.labels[name] = len(a.prog)
}

func (a *asm) cond(c bpf.JumpTest, v uint32, taken, fall string) {
	a.jumps = append(a.jumps, jump{at: len(a.prog), cond: c, val: v, taken: taken, fall: fall})
	a.ins(nil) // placeholder
}

func (a *asm) jeq(v uint32, taken, fall string)  { a.cond(bpf.JumpEqual, v, taken, fall) }
func (a *asm) jset(v uint32, taken, fall string) { a.cond(bpf.JumpBitsSet, v, taken, fall) }
func (a *asm) jlt(v uint32, taken, fall string)  { a.cond(bpf.JumpLessThan, v, taken, fall) }

// jeqFar jumps to label if A == v, through an unconditional jump, which
// reaches any distance; otherwise it falls through.
func (a *asm) jeqFar(v uint32, label string) {
	a.n++
	next := fmt.Sprintf("far%d", a.n)
	a.jeq(v, "", next)
	a.jmp(label)
	a.label(next)
}

// jmp is an unconditional jump; cond 255 marks it.
func (a *asm) jmp(to string) { a.cond(255, 0, to, "") }

// ports emits, at label name, a test of the source and the destination
// port at X against ports that keeps the packet on a match.
func (a *asm) ports(name string, ports []uint16) {
	a.label(name)
	for _, off := range []uint32{0, 2} {
		a.ins(bpf.LoadIndirect{Off: off, Size: 2})
		for _, p := range ports {
			a.jeq(uint32(p), name+"-keep", "")
		}
	}
	a.ins(bpf.RetConstant{Val: 0})
	a.label(name + "-keep")
	a.ins(bpf.RetConstant{Val: FilterSnapLen})
}

// assemble resolves the jumps and assembles the program.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	if a.err != nil {
		return nil, a.err
	}
	skip := func(j jump, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("%w: undefined label %q", ErrFilter, label)
		}
		if to <= j.at {
			return 0, fmt.Errorf("%w: backward jump to %q", ErrFilter, label)
		}
		return uint32(to - j.at - 1), nil
	}
	for _, j := range a.jumps {
		t, err := skip(j, j.taken)
		if err != nil {
			return nil, err
		}
		if j.cond == 255 {
			a.prog[j.at] = bpf.Jump{Skip: t}
			continue
		}
		f, err := skip(j, j.fall)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("%w: jump too long", ErrFilter)
		}
		a.prog[j.at] = bpf.JumpIf{Cond: j.cond, Val: j.val, SkipTrue: uint8(t), SkipFalse: uint8(f)}
	}
	raw, err := bpf.Assemble(a.prog)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFilter, err)
	}
	if len(raw) > bpfMaxInstructions {
		return nil, fmt.Errorf("%w: %d instructions, at most %d", ErrFilter, len(raw), bpfMaxInstructions)
	}
	return raw, nil
}
